// Facts about certificates and CRLs that node:crypto does not give: a CRL's update times and
// revoked serials, a CA certificate's basicConstraints and keyUsage.
import { X509Certificate } from 'node:crypto';
import { children, oidString, pemToDer, readTime, readTlv, TAG } from './der.js';

export interface CrlInfo {
  thisUpdate: Date;
  nextUpdate: Date | null;
  /** Upper-case hex serials. */
  revoked: string[];
}

/** CertificateList → tbsCertList { version?, signature, issuer, thisUpdate, nextUpdate?, revokedCertificates?, [0] extensions? }. */
export function crlInfo(pem: string | Buffer): CrlInfo {
  const tbs = children(readTlv(pemToDer(pem, 'X509 CRL')).value)[0];
  if (!tbs) throw new Error('CRL: empty');
  const f = children(tbs.value);
  let i = f[0]?.tag === TAG.INTEGER ? 1 : 0; // optional version
  i += 2; // signature algorithm, issuer
  const thisUpdate = readTime(f[i++]!);
  let nextUpdate: Date | null = null;
  if (f[i] && (f[i]!.tag === TAG.UTC_TIME || f[i]!.tag === TAG.GENERALIZED_TIME)) nextUpdate = readTime(f[i++]!);
  const revoked: string[] = [];
  if (f[i]?.tag === TAG.SEQUENCE) {
    for (const entry of children(f[i]!.value)) {
      const serial = children(entry.value)[0]!;
      revoked.push(serial.value.toString('hex').toUpperCase().replace(/^(00)+(?=..)/, ''));
    }
  }
  return { thisUpdate, nextUpdate, revoked };
}

export interface CaExtensions {
  ca: boolean;
  /** undefined: no path length constraint. */
  pathLen: number | undefined;
  /** The keyUsage extension is present (strict verifiers require it on a CA). */
  hasKeyUsage: boolean;
  version: number;
}

const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';

/** TBSCertificate { [0] version?, serial, signature, issuer, validity, subject, spki, [1]?, [2]?, [3] extensions? }. */
export function caExtensions(cert: X509Certificate): CaExtensions {
  const tbs = children(readTlv(cert.raw).value)[0]!;
  const f = children(tbs.value);
  const version = f[0]?.tag === 0xa0 ? children(f[0].value)[0]!.value[0]! + 1 : 1;
  const ext = f.find((t) => t.tag === 0xa3);
  const result: CaExtensions = { ca: false, pathLen: undefined, hasKeyUsage: false, version };
  if (!ext) return result;
  for (const e of children(children(ext.value)[0]!.value)) {
    const parts = children(e.value);
    const oid = oidString(parts[0]!.value);
    const octets = parts[parts.length - 1]!.value;
    if (oid === KEY_USAGE) result.hasKeyUsage = true;
    if (oid === BASIC_CONSTRAINTS) {
      for (const c of children(readTlv(octets).value)) {
        if (c.tag === TAG.BOOLEAN) result.ca = c.value[0] !== 0;
        if (c.tag === TAG.INTEGER) result.pathLen = c.value.reduce((n, b) => n * 256 + b, 0);
      }
    }
  }
  return result;
}
