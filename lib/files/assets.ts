// Files shipped with the package (templates, openssl configs), found relative to this module.
import { fileURLToPath } from 'node:url';
import { readdirSync, statSync, type Dirent } from 'node:fs';
import path from 'node:path';

// dist/lib/files/assets.js → package root is three levels up.
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const OPENSSL_CONF_DIR = path.join(PACKAGE_ROOT, 'openssl-conf');
export const TEMPLATES_DIR = path.join(PACKAGE_ROOT, 'templates');

/**
 * The identity (path, size, mtime) of every file of the running tool that decides what a build makes:
 * its compiled code, templates and openssl configs. An "up to date" remembered by an older tool (an
 * upgrade, a rebuild of the package) does not count for this one.
 */
export function toolIdentity(): string {
  const parts: string[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p, { throwIfNoEntry: false });
        if (st) parts.push(`${path.relative(PACKAGE_ROOT, p)}:${st.size}:${st.mtimeMs}`);
      }
    }
  };
  for (const dir of [path.dirname(path.dirname(fileURLToPath(import.meta.url))), TEMPLATES_DIR, OPENSSL_CONF_DIR]) walk(dir);
  return parts.join('\n');
}
