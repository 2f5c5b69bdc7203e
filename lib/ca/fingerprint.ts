// Fingerprints as Postfix computes them for permit_tls_clientcerts: uppercase hex pairs joined by colons.
import { X509Certificate, createHash } from 'node:crypto';
import { shq } from '../programs/shell.js';

export type FingerprintKind = 'pubkey' | 'cert';

export function fingerprint(certPem: string | Buffer | X509Certificate, digest: string, kind: FingerprintKind): string {
  const cert = certPem instanceof X509Certificate ? certPem : new X509Certificate(certPem);
  const der = kind === 'cert' ? cert.raw : cert.publicKey.export({ type: 'spki', format: 'der' });
  return colonHex(createHash(digest).update(der).digest());
}

export function colonHex(bytes: Buffer): string {
  return (bytes.toString('hex').toUpperCase().match(/../g) ?? []).join(':');
}

/** The same computation in plain openssl, for the replayable shell script. */
export function fingerprintShell(certPath: string, digest: string, kind: FingerprintKind): string {
  const c = shq(certPath);
  return kind === 'cert'
    ? `openssl x509 -in ${c} -noout -fingerprint -${digest} | sed 's/^[^=]*=//'`
    : `openssl x509 -in ${c} -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -${digest} -c | sed 's/^.*= //' | tr a-f A-F`;
}
