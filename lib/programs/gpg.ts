import { shJoin } from './shell.js';

/** argv of the one gpg call that yields the CA passphrase on stdout. */
export function gpgDecrypt(passphraseFile: string): string[] {
  return ['gpg', '--batch', '--decrypt', passphraseFile];
}

export function gpgDecryptDisplay(passphraseFile: string): string {
  return shJoin(gpgDecrypt(passphraseFile));
}

/** Encrypt standard input to a recipient; used by `init` (plaintext never touches disk). */
export function gpgEncrypt(recipient: string, outFile: string): string[] {
  return ['gpg', '--batch', '--yes', '--trust-model', 'always', '--encrypt', '--recipient', recipient, '--output', outFile];
}

/** Keys as data (`--with-colons`): secret keys to offer as the recipient, or one recipient's public key. */
export function gpgListKeys(opts: { secret: boolean; name?: string }): string[] {
  const argv = ['gpg', '--batch', '--with-colons', '--fixed-list-mode', opts.secret ? '--list-secret-keys' : '--list-keys'];
  if (opts.name !== undefined) argv.push('--', opts.name);
  return argv;
}
