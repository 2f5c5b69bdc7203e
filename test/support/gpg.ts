// A throwaway GnuPG home with a key (passphrase-less unless asked), and a CA passphrase encrypted to it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TEST_RECIPIENT = 't@example.invalid';

export interface TestGpg {
  home: string;
  /** Encrypts `secret` to the test key into `file`; the plaintext only passes through a pipe. */
  encrypt(secret: string, file: string): void;
  dispose(): void;
}

/** keyPassphrase: protect the key with it (gpg-agent then has to ask for it on decryption). */
export function createTestGpg(keyPassphrase = ''): TestGpg {
  const home = mkdtempSync(path.join(os.tmpdir(), 'ptr-gpg-'));
  const env = { ...process.env, GNUPGHOME: home };
  execFileSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', keyPassphrase, '--quick-generate-key', `test <${TEST_RECIPIENT}>`, 'future-default', 'default', 'never'], { env, stdio: 'pipe' });
  return {
    home,
    encrypt(secret, file) {
      execFileSync('gpg', ['--batch', '--yes', '--trust-model', 'always', '--encrypt', '--recipient', TEST_RECIPIENT, '--output', file], { env, input: secret, stdio: ['pipe', 'pipe', 'pipe'] });
    },
    dispose() {
      try {
        execFileSync('gpgconf', ['--kill', 'all'], { env, stdio: 'ignore' });
      } catch {
        /* no agent running */
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
