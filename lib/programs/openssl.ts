// Typed builders for every openssl invocation the tool runs. Each returns argv plus its exact shell text.
import { shJoin } from './shell.js';
import { gpgDecryptDisplay } from './gpg.js';
import type { Command } from './command.js';

import type { KeySpec } from '../settings/index.js';

/** The shell text is made when first shown: a fleet's plan holds thousands of commands that never run. */
class OpensslCommand implements Command {
  private text: string | undefined;
  readonly passphraseOnStdin: boolean;
  constructor(readonly argv: readonly string[], private readonly passphraseFile: string | undefined) {
    this.passphraseOnStdin = passphraseFile !== undefined;
  }
  get display(): string {
    this.text ??= this.passphraseFile === undefined ? shJoin(this.argv) : `${gpgDecryptDisplay(this.passphraseFile)} | ${shJoin(this.argv)}`;
    return this.text;
  }
}

function command(argv: string[], passphraseFile?: string): Command {
  return new OpensslCommand(argv, passphraseFile);
}

function keyOptions(key: KeySpec): string[] {
  return key.algorithm === 'rsa'
    ? ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${key.bits}`]
    : ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${key.curve}`, '-pkeyopt', 'ec_param_enc:named_curve'];
}

/** A new private key. With `cipher` the key is encrypted with the passphrase read from stdin. */
export function genpkey(opts: { key: KeySpec; out: string; cipher?: string; passphraseFile?: string }): Command {
  const argv = ['openssl', 'genpkey', ...keyOptions(opts.key)];
  if (opts.cipher !== undefined) {
    if (opts.passphraseFile === undefined) throw new Error('genpkey: an encrypted key needs the passphrase file');
    argv.push(`-${opts.cipher}`, '-pass', 'stdin');
  }
  argv.push('-out', opts.out);
  return command(argv, opts.cipher === undefined ? undefined : opts.passphraseFile);
}

/** `openssl req`: a CSR, or with `x509` a self-signed certificate (the CA). */
export function req(opts: {
  config: string;
  key: string;
  out: string;
  digest: string;
  x509?: { days: number };
  passphraseFile?: string;
}): Command {
  const argv = ['openssl', 'req', '-new', '-config', opts.config, `-${opts.digest}`];
  if (opts.x509) argv.push('-x509', '-days', String(opts.x509.days));
  argv.push('-key', opts.key);
  if (opts.passphraseFile !== undefined) argv.push('-passin', 'stdin');
  argv.push('-out', opts.out);
  return command(argv, opts.passphraseFile);
}

/** `openssl ca`: sign a CSR with the CA database; extensions come from the host's own config file. */
export function caSign(opts: {
  config: string;
  extfile: string;
  extensions: string;
  csr: string;
  out: string;
  passphraseFile: string;
}): Command {
  return command(
    [
      'openssl', 'ca', '-batch', '-notext', '-config', opts.config,
      '-extfile', opts.extfile, '-extensions', opts.extensions,
      '-passin', 'stdin', '-in', opts.csr, '-out', opts.out,
    ],
    opts.passphraseFile,
  );
}

/** CRL reason codes `openssl ca -crl_reason` accepts that make sense for a leaf we issued. */
export const REVOKE_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation'] as const;
export type RevokeReason = (typeof REVOKE_REASONS)[number];

/** `openssl ca -revoke`: mark a certificate revoked in the CA database. */
export function caRevoke(opts: { config: string; cert: string; passphraseFile: string; reason?: RevokeReason }): Command {
  const argv = ['openssl', 'ca', '-batch', '-config', opts.config, '-passin', 'stdin', '-revoke', opts.cert];
  if (opts.reason !== undefined) argv.push('-crl_reason', opts.reason);
  return command(argv, opts.passphraseFile);
}

/** `openssl ca -valid`: record a certificate issued elsewhere by this CA's key (the Makefile's) as valid. */
export function caValid(opts: { config: string; cert: string; passphraseFile: string }): Command {
  return command(['openssl', 'ca', '-batch', '-config', opts.config, '-passin', 'stdin', '-valid', opts.cert], opts.passphraseFile);
}

/**
 * Re-sign the CA certificate with its own key: same subject and key (so every issued certificate still
 * verifies), new validity and serial, extensions replaced by the `v3_ca` section of the CA's config.
 */
export function caResign(opts: {
  cert: string;
  key: string;
  config: string;
  days: number;
  digest: string;
  /** Hex serial of the new certificate. */
  serial: string;
  out: string;
  passphraseFile: string;
}): Command {
  return command(
    [
      'openssl', 'x509', '-in', opts.cert, '-signkey', opts.key, '-passin', 'stdin',
      '-clrext', '-extfile', opts.config, '-extensions', 'v3_ca',
      '-days', String(opts.days), `-${opts.digest}`, '-set_serial', `0x${opts.serial}`, '-out', opts.out,
    ],
    opts.passphraseFile,
  );
}

/** `openssl ca -gencrl`: a fresh CRL from the CA database. */
export function caGencrl(opts: { config: string; out: string; days: number; passphraseFile: string }): Command {
  return command(['openssl', 'ca', '-batch', '-config', opts.config, '-passin', 'stdin', '-gencrl', '-crldays', String(opts.days), '-out', opts.out], opts.passphraseFile);
}

/** `openssl verify` of a certificate against our CA for one TLS purpose. */
export function verify(opts: { caFile: string; cert: string; purpose?: 'sslclient' | 'sslserver'; crlFile?: string }): Command {
  const argv = ['openssl', 'verify', '-x509_strict', '-CAfile', opts.caFile];
  if (opts.purpose) argv.push('-purpose', opts.purpose);
  if (opts.crlFile) argv.push('-CRLfile', opts.crlFile, '-crl_check');
  argv.push(opts.cert);
  return command(argv);
}
