// Which CA keys a passphrase file opens: a passphrase file that opens a CA key (current or archived by
// clean) is never replaced, or that CA is lost.
import { createPrivateKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Passphrase } from './passphrase.js';

/** CA keys in the project: certs/ca/*-ca.key.pem and the ones clean moved to archive/<run>/certs/ca/. */
export function caKeysIn(projectDir: string): { current: string[]; archived: string[] } {
  const keysIn = (dir: string) => {
    try {
      return readdirSync(dir).filter((f) => f.endsWith('-ca.key.pem')).map((f) => path.join(dir, f));
    } catch {
      return [];
    }
  };
  let runs: string[];
  try {
    runs = readdirSync(path.join(projectDir, 'archive')).sort();
  } catch {
    runs = [];
  }
  return {
    current: keysIn(path.join(projectDir, 'certs', 'ca')),
    archived: runs.flatMap((r) => keysIn(path.join(projectDir, 'archive', r, 'certs', 'ca'))),
  };
}

/** The first of `keys` that the passphrase in `passFile` opens; undefined when none does or it cannot be decrypted. */
export async function keyOpenedBy(passFile: string, keys: readonly string[]): Promise<string | undefined> {
  if (keys.length === 0) return undefined;
  const pass = new Passphrase(passFile);
  let secret: Buffer;
  try {
    secret = await pass.get();
  } catch {
    return undefined; // not decryptable here: it opens nothing this user could use
  }
  try {
    const nl = secret.indexOf(10);
    const first = secret.subarray(0, nl === -1 ? secret.length : nl);
    for (const k of keys) {
      try {
        createPrivateKey({ key: readFileSync(k), format: 'pem', passphrase: first });
        return k;
      } catch {
        /* not this one */
      }
    }
    return undefined;
  } finally {
    await pass.dispose();
  }
}
