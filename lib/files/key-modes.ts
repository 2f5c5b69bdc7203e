// Private keys are 0600 whatever happened to them: a key found wider (a copy, a restore, a chmod) is
// reported by status --check and narrowed by the next build.
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Every private key file in the project's certs/ and out/ trees (relative paths). */
export function keyFilesIn(projectDir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(path.join(projectDir, rel));
    } catch {
      return;
    }
    for (const n of names) {
      const r = path.posix.join(rel, n);
      const st = lstatSync(path.join(projectDir, r), { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(r);
      else if (st.isFile() && n.endsWith('.key.pem')) out.push(r);
    }
  };
  walk('certs');
  walk('out');
  return out;
}

/** Keys readable or writable by anyone but their owner, with their mode. */
export function wideKeys(projectDir: string): { file: string; mode: number }[] {
  return keyFilesIn(projectDir)
    .map((file) => ({ file, mode: lstatSync(path.join(projectDir, file)).mode & 0o7777 }))
    .filter((k) => (k.mode & 0o7077) !== 0);
}

/** Sets every wider key back to 0600; returns what it changed. Call holding the project lock. */
export function narrowKeyModes(projectDir: string): { file: string; mode: number }[] {
  const wide = wideKeys(projectDir);
  for (const k of wide) chmodSync(path.join(projectDir, k.file), 0o600);
  return wide;
}

export const octal = (mode: number) => mode.toString(8).padStart(4, '0');
