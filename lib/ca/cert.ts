// The one certificate reader: PEM or DER bytes → node's X509Certificate and the facts the tool uses.
import { X509Certificate } from 'node:crypto';

export interface CertFacts {
  readonly x509: X509Certificate;
  /** Upper-case hex, as openssl's index.txt writes it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** undefined when the bytes are missing or not a certificate. */
export function parseCert(data: Buffer | string | undefined): CertFacts | undefined {
  if (data === undefined) return undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(data);
  } catch {
    return undefined;
  }
  return { x509, serial: x509.serialNumber.toUpperCase(), notBefore: new Date(x509.validFrom), notAfter: new Date(x509.validTo) };
}

/** Was `leaf` issued and signed by `ca`? */
export function signedBy(leaf: CertFacts, ca: CertFacts): boolean {
  return leaf.x509.checkIssued(ca.x509) && leaf.x509.verify(ca.x509.publicKey);
}
