// Checks that the files on disk still form the trust chain this project made, before a build adds to
// it: the CA key belongs to the CA certificate, every leaf certificate was signed by the CA key and
// belongs to its host's key. A broken chain is reported with what to do, never silently re-made into
// a different one. All checks run in-process (no program is started); the CA key check needs the
// passphrase and runs only when a build is about to sign anyway.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { RunError } from '../errors.js';
import { allHosts, caFiles, hostFiles } from '../files/layout.js';
import type { Settings } from '../settings/index.js';
import { parseCert, type CertFacts } from './cert.js';

/** What the checks read: the project state (files read once per session). */
export interface TrustFiles {
  readChecked(rel: string): Buffer | undefined;
  mtime(rel: string): number | undefined;
  /** A check that passed on these very files (same inode, size, mtime, ctime) need not run again. */
  remembered(tag: string, rels: readonly string[]): boolean;
  remember(tag: string, rels: readonly string[]): void;
}

const START_OVER = 'to start a new CA on purpose, run postfix-tls-relay clean first (it archives the old one)';

function cert(file: string, pem: Buffer, fix: string): CertFacts {
  const c = parseCert(pem);
  if (!c) throw new RunError(`${file}: not a readable certificate (damaged?); ${fix}`);
  return c;
}

const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });

/**
 * Checks that need no passphrase: CA presence, leaf signatures, leaf key/certificate pairs. While a
 * Makefile tree is being adopted, certificates of an earlier CA are expected: adoption reports and
 * re-issues them.
 */
export function checkTrustChain(s: Settings, files: TrustFiles, opts: { adopting?: boolean } = {}): void {
  const ca = caFiles(s);
  const caCertPem = files.readChecked(ca.cert);
  const caKeyPresent = files.readChecked(ca.key) !== undefined;
  const leaves = allHosts(s).map((h) => hostFiles(h));

  if (caCertPem && !caKeyPresent) {
    throw new RunError(`${ca.key} is missing but ${ca.cert} exists; a new key would be a new CA that no host trusts, so none is made: restore the key from your backup (${START_OVER})`);
  }
  const caCert = caCertPem ? cert(ca.cert, caCertPem, `restore it from your backup, or delete it to have it re-made from ${ca.key}`) : undefined;
  if (!caCert && !caKeyPresent) {
    const orphan = leaves.find((f) => files.readChecked(f.cert) !== undefined);
    if (orphan) {
      throw new RunError(`${orphan.cert} exists but the CA that signed it (${ca.key}, ${ca.cert}) is missing; restore the CA from your backup (${START_OVER})`);
    }
  }

  for (const f of leaves) {
    // Verified before on the same CA certificate, certificate and key: a no-op build of a large fleet
    // must not verify every signature again.
    const pair = [ca.cert, ca.key, f.cert, f.key];
    if (!opts.adopting && files.remembered(`trust:${f.cert}`, pair)) continue;
    const certPem = files.readChecked(f.cert);
    if (!certPem) continue;
    const fix = `delete it to have it re-issued, or restore it from your backup`;
    const leaf = cert(f.cert, certPem, fix);
    // The CA key is the trust anchor: a leaf signed by it is ours even if the CA certificate was re-made.
    if (caCert && !opts.adopting && !leaf.x509.verify(caCert.x509.publicKey)) {
      throw new RunError(`${f.cert} was not signed by this project's CA (${ca.cert}; issuer of the file: ${oneLine(leaf.x509.issuer)}); delete it to have it re-issued by this CA, or restore the CA it belongs to`);
    }
    const keyPem = files.readChecked(f.key);
    if (!keyPem) continue; // a new key is made and certified
    // A key newer than its certificate is a key being replaced (deleted and re-made): the build
    // re-issues the certificate for it (and openssl reports a key it cannot read). A certificate
    // newer than its key must belong to it.
    if (files.mtime(f.key)! > files.mtime(f.cert)!) continue;
    let pub: Buffer;
    try {
      pub = spki(createPublicKey(createPrivateKey(keyPem)));
    } catch {
      throw new RunError(`${f.key}: not a readable unencrypted private key (damaged?); restore it from your backup, or delete it and ${f.cert} to give the host a new key`);
    }
    if (!pub.equals(spki(leaf.x509.publicKey))) {
      throw new RunError(`${f.key} does not match ${f.cert}; restore the matching key from your backup, or delete both to give the host a new key and certificate`);
    }
    if (caCert && !opts.adopting) files.remember(`trust:${f.cert}`, pair);
  }
}

/** The CA key (decrypted in memory with the passphrase) belongs to the CA certificate. */
export function checkCaKey(s: Settings, files: TrustFiles, passphrase: Buffer): void {
  const ca = caFiles(s);
  const keyPem = files.readChecked(ca.key);
  const certPem = files.readChecked(ca.cert);
  if (!keyPem || !certPem) return;
  const nl = passphrase.indexOf(10);
  let key: KeyObject;
  try {
    // openssl -pass stdin uses the first line; so do we.
    key = createPrivateKey({ key: keyPem, format: 'pem', passphrase: passphrase.subarray(0, nl === -1 ? passphrase.length : nl) });
  } catch {
    throw new RunError(`${ca.key}: the passphrase from certs_passphrase_file (${s.passphraseFile}) does not open this key (or the key is damaged); use the passphrase file made for this CA, or restore the key from your backup`);
  }
  if (!spki(createPublicKey(key)).equals(spki(cert(ca.cert, certPem, 'restore it from your backup').x509.publicKey))) {
    throw new RunError(`${ca.key} does not match ${ca.cert}; restore the matching key or certificate from your backup and never replace one without the other (${START_OVER})`);
  }
}

function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}
