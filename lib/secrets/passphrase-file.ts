// A new CA passphrase file: random bytes in memory, piped to `gpg --encrypt`, which writes a temp file
// next to the target that is then renamed into place. The plaintext never touches the disk.
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fsyncFile } from '../files/atomic.js';
import { gpgEncrypt } from '../programs/gpg.js';
import { RunError } from '../errors.js';
import { run } from '../programs/exec.js';
import { randomPassphrase } from './random.js';
import { shJoin } from '../programs/shell.js';

/** The gpg command that writes the temp file; `cwd` is where it runs (paths are shown relative to it). */
export function encryptCommand(passFile: string, recipient: string, cwd: string): string[] {
  const tmp = path.join(path.dirname(passFile), `.${path.basename(passFile)}.tmp`);
  return gpgEncrypt(recipient, path.relative(cwd, tmp) || tmp);
}

export async function createPassphraseFile(passFile: string, recipient: string, opts: { cwd: string; info: (line: string) => void }): Promise<void> {
  const argv = encryptCommand(passFile, recipient, opts.cwd);
  const tmp = path.resolve(opts.cwd, argv[argv.length - 1]!);
  mkdirSync(path.dirname(passFile), { recursive: true, mode: 0o700 });
  const secret = randomPassphrase();
  try {
    opts.info(`+ ${shJoin(argv)}  # stdin: a new random CA passphrase, from memory`);
    rmSync(tmp, { force: true });
    const r = await run(argv, { input: secret, cwd: opts.cwd });
    if (r.exitCode !== 0 || !existsSync(tmp)) {
      const why = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? `exit ${r.exitCode}`;
      throw new RunError(`gpg --encrypt to ${recipient} failed: ${why}; check the key with gpg --list-keys`);
    }
    chmodSync(tmp, 0o600);
    fsyncFile(tmp);
    renameSync(tmp, passFile);
  } finally {
    secret.fill(0);
    rmSync(tmp, { force: true });
  }
}
