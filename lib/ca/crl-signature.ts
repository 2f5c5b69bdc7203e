// Is the CRL ours? Its signature checked against the CA certificate's public key with node:crypto over
// the DER tbsCertList (no openssl process per status run). A CRL signed by another CA with the same
// issuer name — a restore from the wrong backup, a copy from another setup — is not.
import { verify, type X509Certificate } from 'node:crypto';
import { oidString, pemToDer, readTlv, TAG } from './der.js';

/** Signature algorithm OIDs → the digest node's verify() takes (null: the key type says it, as for Ed25519). */
const ALGORITHMS: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null, // Ed25519
  '1.3.101.113': null, // Ed448
};

export type CrlSignature = 'valid' | 'invalid' | { unknownAlgorithm: string };

/** CertificateList { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }, checked against `ca`. */
export function crlSignature(pem: string | Buffer, ca: X509Certificate): CrlSignature {
  const list = readTlv(pemToDer(pem, 'X509 CRL')).value;
  const tbs = readTlv(list, 0);
  const alg = readTlv(list, tbs.end);
  const sig = readTlv(list, alg.end);
  if (tbs.tag !== TAG.SEQUENCE || alg.tag !== TAG.SEQUENCE || sig.tag !== TAG.BIT_STRING || sig.value[0] !== 0) return 'invalid';
  // The algorithm signed inside tbsCertList must be the one the signature claims (RFC 5280, 5.1.1.2).
  const inner = readTlv(tbs.value, 0);
  const innerAlg = inner.tag === TAG.INTEGER ? readTlv(tbs.value, inner.end) : inner;
  if (!alg.value.equals(innerAlg.value)) return 'invalid';
  const oid = oidString(readTlv(alg.value, 0).value);
  if (!(oid in ALGORITHMS)) return { unknownAlgorithm: oid };
  try {
    return verify(ALGORITHMS[oid] ?? null, list.subarray(0, tbs.end), ca.publicKey, sig.value.subarray(1)) ? 'valid' : 'invalid';
  } catch {
    return 'invalid'; // a key of another type than the algorithm: not the CA's signature
  }
}
