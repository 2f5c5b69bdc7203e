// Private keys are 0600 whatever happened to them: a key found wider (a copy, a restore, a chmod) is
// reported by status --check and narrowed by the next build.
import { chmodSync, constants } from 'node:fs';
import path from 'node:path';
import type { ProjectTree } from './tree.js';

/** Keys readable or writable by anyone but their owner (in certs/ and out/, as scanned), with their mode. */
export function wideKeys(tree: ProjectTree): { file: string; mode: number }[] {
  const out: { file: string; mode: number }[] = [];
  tree.someEntry((rel, mode) => {
    if ((mode & 0o7077) === 0 || (mode & constants.S_IFMT) !== constants.S_IFREG) return false;
    if (rel.endsWith('.key.pem') && (rel.startsWith('certs/') || rel.startsWith('out/'))) out.push({ file: rel, mode: mode & 0o7777 });
    return false;
  });
  return out;
}

/** Sets every wider key back to 0600; returns what it changed. Call holding the project lock. */
export function narrowKeyModes(tree: ProjectTree): { file: string; mode: number }[] {
  const wide = wideKeys(tree);
  for (const k of wide) {
    chmodSync(path.join(tree.dir, k.file), 0o600);
    tree.forget(k.file);
  }
  return wide;
}

export const octal = (mode: number) => mode.toString(8).padStart(4, '0');

/** Files and directories of the bundles (out/) with a setuid or setgid bit, as scanned: the hosts must never get one. */
export function setIdEntries(tree: ProjectTree): { file: string; mode: number }[] {
  const out: { file: string; mode: number }[] = [];
  tree.someEntry((rel, mode) => {
    if ((mode & 0o6000) !== 0 && rel.startsWith('out/')) out.push({ file: rel, mode: mode & 0o7777 });
    return false;
  });
  return out;
}
