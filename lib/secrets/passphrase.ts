// The CA passphrase: decrypted by gpg at most once per run, kept only in memory, handed to openssl on stdin.
import { existsSync } from 'node:fs';
import { gpgDecrypt } from '../programs/gpg.js';
import { RunError, UsageError } from '../errors.js';
import { run } from '../programs/exec.js';

/**
 * What to do about gpg's reason. Without a terminal, a graphical pinentry or a reachable agent (e.g. in a
 * container without the host's agent socket) gpg cannot ask for the key's passphrase: the file is fine.
 */
function decryptHint(why: string): string {
  if (/Inappropriate ioctl for device|No pinentry|No agent running|can't connect to the agent|Operation cancelled/i.test(why)) {
    return "gpg-agent found no way to ask for your key's passphrase (no usable pinentry or terminal); run export GPG_TTY=$(tty) first, or in a container mount the host's gpg-agent socket (README, Docker)";
  }
  return 'check that it is GnuPG data encrypted to a secret key you have (gpg --list-secret-keys)';
}

export class Passphrase {
  private value: Promise<Buffer> | undefined;
  decryptions = 0;

  constructor(
    private readonly file: string | undefined,
    private readonly signal?: AbortSignal,
    /** Runs once on the decrypted passphrase before any use (the CA key check); may throw. */
    private readonly check?: (passphrase: Buffer) => void,
  ) {}

  get(): Promise<Buffer> {
    this.value ??= this.decrypt();
    return this.value;
  }

  private async decrypt(): Promise<Buffer> {
    if (this.file === undefined) {
      throw new UsageError('certs_passphrase_file is not set; add "certs_passphrase_file := ca-passphrase.gpg" to settings.mk, naming a GnuPG-encrypted passphrase file (postfix-tls-relay init makes one)');
    }
    if (!existsSync(this.file)) {
      throw new UsageError(`certs_passphrase_file: ${this.file} not found; create it (postfix-tls-relay init) or fix the path in settings.mk`);
    }
    this.decryptions++;
    const r = await run(gpgDecrypt(this.file), { signal: this.signal });
    if (r.exitCode !== 0) {
      r.stdout.fill(0);
      const lines = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^gpg: (encrypted with|keybox .* created)/.test(l) && !/^"/.test(l));
      // gpg's last line can be as vague as "decrypt_message failed: Unknown system error"; its reason comes first.
      const why = (lines.find((l) => /no valid OpenPGP data|No secret key|decryption failed|bad passphrase|can't open/i.test(l)) ?? lines.pop() ?? `exit ${r.exitCode}`).replace(/\.$/, '');
      throw new RunError(`certs_passphrase_file: gpg cannot decrypt ${this.file}: ${why}; ${decryptHint(why)}`);
    }
    const firstLine = r.stdout.subarray(0, r.stdout.indexOf(10) === -1 ? r.stdout.length : r.stdout.indexOf(10));
    if (firstLine.length < 4) {
      r.stdout.fill(0);
      throw new UsageError(`certs_passphrase_file: ${this.file} decrypts to a passphrase shorter than 4 characters; openssl needs at least 4`);
    }
    try {
      this.check?.(r.stdout);
    } catch (err) {
      r.stdout.fill(0);
      throw err;
    }
    return r.stdout;
  }

  /** Overwrite the bytes in memory once the run is over. */
  async dispose(): Promise<void> {
    if (!this.value) return;
    try {
      (await this.value).fill(0);
    } catch {
      /* never decrypted */
    }
    this.value = undefined;
  }
}
