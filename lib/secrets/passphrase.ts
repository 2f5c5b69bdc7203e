// The CA passphrase: decrypted by gpg at most once per run, kept only in memory, handed to openssl on stdin.
import { readFileSync } from 'node:fs';
import { gpgDecrypt } from '../programs/gpg.js';
import { RunError, UsageError } from '../errors.js';
import { run } from '../programs/exec.js';
import { openPgpKind } from './openpgp.js';

/** openssl's -pass stdin reads one line into a 1024-byte buffer, so at most 1023 bytes, and a NUL ends it. */
export const MAX_PASSPHRASE_BYTES = 1023;
export const MIN_PASSPHRASE_BYTES = 4;

/** Why openssl would not see exactly this passphrase (its first line), or undefined; continues "a passphrase …". */
export function passphraseProblem(decrypted: Buffer): string | undefined {
  const nl = decrypted.indexOf(10);
  const first = decrypted.subarray(0, nl === -1 ? decrypted.length : nl);
  if (first.includes(0)) return 'holding a NUL byte, where openssl would stop reading; use a passphrase of printable characters';
  if (first.length > MAX_PASSPHRASE_BYTES) return `with a first line of ${first.length} bytes; openssl reads at most ${MAX_PASSPHRASE_BYTES}, so use a passphrase of ${MIN_PASSPHRASE_BYTES} to ${MAX_PASSPHRASE_BYTES} bytes`;
  if (first.length < MIN_PASSPHRASE_BYTES) return `shorter than ${MIN_PASSPHRASE_BYTES} characters; openssl needs at least ${MIN_PASSPHRASE_BYTES}`;
  return undefined;
}

const NOT_TO_A_KEY: Record<string, string> = {
  'password-only': 'is encrypted with a password only (gpg --symmetric)',
  signed: 'is signed, not encrypted (gpg --sign or --clearsign): anyone can read it',
  plain: 'is not encrypted (gpg --store or --sign?): anyone can read it',
};

/**
 * What to do about gpg's reason. Without a terminal, a graphical pinentry or a reachable agent (e.g. in a
 * container without the host's agent socket) gpg cannot ask for the key's passphrase: the file is fine.
 */
function decryptHint(why: string): string {
  if (/Inappropriate ioctl for device|No pinentry|No agent running|can't connect to the agent|Operation cancelled/i.test(why)) {
    return "gpg-agent found no way to ask for your key's passphrase (no usable pinentry or terminal); run export GPG_TTY=$(tty) first, or in a container mount the host's gpg-agent socket (README, Docker); unattended (timer, cron): preset it in gpg-agent (gpg-preset-passphrase) or use a passphrase-less GnuPG key for this file (README, Unattended renewal)";
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
    let data: Buffer;
    try {
      data = readFileSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new UsageError(`certs_passphrase_file: ${this.file} not found; create it (postfix-tls-relay init) or fix the path in settings.mk`);
      }
      throw new RunError(`certs_passphrase_file: cannot read ${this.file} (${(err as NodeJS.ErrnoException).code}); check its permissions`);
    }
    const why = NOT_TO_A_KEY[openPgpKind(data)];
    if (why) {
      throw new UsageError(`certs_passphrase_file: ${this.file} ${why}; it must be encrypted to a key: gpg --encrypt -r YOUR-KEY (postfix-tls-relay init makes one)`);
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
    const problem = passphraseProblem(r.stdout);
    if (problem) {
      r.stdout.fill(0);
      throw new UsageError(`certs_passphrase_file: ${this.file} decrypts to a passphrase ${problem}`);
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
