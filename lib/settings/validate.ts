// Pure checks on single values. Each returns an error text (what is wrong and what to do) or undefined.
import { getCiphers, getHashes } from 'node:crypto';

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

export function checkHostname(v: string): string | undefined {
  if (v === '') return 'is empty; set a host name such as "mailhost"';
  if (!LABEL.test(v)) return `"${printable(v)}" is not a host name (RFC 1123: letters, digits and inner hyphens, 1-63 characters, no dots)`;
  return undefined;
}

export function checkFqdn(v: string): string | undefined {
  if (v === '') return 'is empty; set a fully qualified name such as "relay.example.org"';
  if (v.endsWith('.')) return `"${printable(v)}" ends with a dot; write the name without the trailing dot`;
  if (v.length > 253) return `is ${v.length} characters long; a DNS name has at most 253`;
  const labels = v.split('.');
  if (labels.length < 2) return `"${printable(v)}" is not fully qualified; add the domain, e.g. "${printable(v)}.example.org"`;
  for (const l of labels) {
    if (l === '') return `"${printable(v)}" has an empty label (two dots in a row or a leading dot)`;
    if (l.length > 63) return `"${printable(v)}" has a label of ${l.length} characters; at most 63 are allowed`;
    if (!LABEL.test(l)) return `"${printable(v)}" is not a DNS name (RFC 1123: letters, digits and inner hyphens per label)`;
  }
  return undefined;
}

/** A host's fqdn is its certificates' common name, which openssl limits to 64 bytes (ub-common-name). */
export function checkCommonName(v: string): string | undefined {
  const n = Buffer.byteLength(v);
  if (n > 64) return `"${printable(v)}" is ${n} characters long; it is the certificate's common name, which holds at most 64: use a shorter name for this host`;
  return undefined;
}

export function checkSshHost(v: string): string | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(v) && v.split('.').every((o) => Number(o) <= 255)) return undefined;
  if (/^[0-9A-Fa-f:]+$/.test(v) && v.includes(':')) return undefined;
  if (LABEL.test(v)) return undefined;
  return checkFqdn(v);
}

export function checkInt(v: string, min: number, max: number, what: string): string | undefined {
  if (!/^\d+$/.test(v)) return `"${printable(v)}" is not a whole number; use ${what} from ${min} to ${max}`;
  const n = Number(v);
  if (n < min || n > max) return `${n} is out of range; use ${what} from ${min} to ${max}`;
  return undefined;
}

export const checkPort = (v: string) => checkInt(v, 1, 65535, 'a port number');
export const checkDays = (v: string) => checkInt(v, 1, 36500, 'a number of days');
export const checkLoglevel = (v: string) => checkInt(v, 0, 4, 'a TLS log level');

export function checkRsaBits(v: string): string | undefined {
  const e = checkInt(v, 2048, 16384, 'an RSA key size');
  if (e) return e.replace('out of range', 'too small or too large (RSA below 2048 bits is broken)');
  return undefined;
}

/** Signature digests: only strong ones, since the CA signs with them. */
const SIGNING_DIGESTS = ['sha224', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-384', 'sha3-512'];
export function checkSigningDigest(v: string): string | undefined {
  if (SIGNING_DIGESTS.includes(v) && getHashes().includes(v)) return undefined;
  if (v === 'md5' || v === 'sha1') return `"${v}" is too weak to sign certificates; use sha256`;
  return `"${printable(v)}" is not a digest openssl can sign with; use one of ${SIGNING_DIGESTS.join(', ')}`;
}

/** Fingerprint digests Postfix accepts in smtpd_tls_fingerprint_digest. */
const FINGERPRINT_DIGESTS = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'];
export function checkFingerprintDigest(v: string): string | undefined {
  if (FINGERPRINT_DIGESTS.includes(v) && getHashes().includes(v)) return undefined;
  return `"${printable(v)}" is not a fingerprint digest; use one of ${FINGERPRINT_DIGESTS.join(', ')} (sha256 recommended)`;
}

/** PEM encryption ciphers: CBC/CFB/OFB block ciphers openssl's -<cipher> option takes. */
export function checkCipher(v: string): string | undefined {
  if (/^[a-z0-9-]+$/.test(v) && getCiphers().includes(v) && !/(gcm|ccm|ocb|xts|wrap|siv|chacha|ecb|rc4|^des$|^des-cbc$)/.test(v)) {
    return undefined;
  }
  return `"${printable(v)}" is not a cipher openssl can encrypt a key with; use aes256 (or aes128, camellia256, des3)`;
}

export function checkOneOf(v: string, allowed: readonly string[]): string | undefined {
  return allowed.includes(v) ? undefined : `"${printable(v)}" is not one of ${allowed.join(', ')}`;
}

/** Absolute paths that go into main.cf, master.cf -o values and shell scripts: no spaces, commas or quoting. */
export function checkRemotePath(v: string): string | undefined {
  if (!v.startsWith('/')) return `"${printable(v)}" is not an absolute path; start it with /`;
  if (!/^[A-Za-z0-9._/+@-]+$/.test(v)) {
    return `"${printable(v)}" has characters Postfix settings cannot hold (spaces, commas, quotes, $ …); use letters, digits and . _ - + @ /`;
  }
  if (v.split('/').includes('..')) return `"${printable(v)}" contains ".."; give a plain absolute path`;
  if (v.length > 1 && v.endsWith('/')) return `"${printable(v)}" ends with /; leave the slash out`;
  return undefined;
}

export function checkLocalPath(v: string): string | undefined {
  if (v === '') return 'is empty; name a file';
  if (/[\x00-\x1f\x7f]/.test(v)) return 'contains a control character (newline?); give a plain path';
  return undefined;
}

export function checkUser(v: string): string | undefined {
  return /^[a-z_][a-z0-9_.-]{0,31}$/.test(v) ? undefined : `"${printable(v)}" is not a user name (lowercase letters, digits, _ . -)`;
}

/** Subject fields end up in an openssl config file: printable text only. */
export function checkSubjectField(v: string, max = 64): string | undefined {
  if (/[\x00-\x1f\x7f]/.test(v)) return 'contains a control character; use plain text';
  // What bytes that are not UTF-8 become on the way in (--set, the environment): never silently certified.
  if (v.includes('\uFFFD')) return 'is not UTF-8 text (it holds U+FFFD, the mark of bytes that were not UTF-8); give the value in UTF-8';
  if ([...v].length > max) return `is longer than ${max} characters`;
  return undefined;
}

export function checkCountry(v: string): string | undefined {
  return v === '' || /^[A-Z]{2}$/.test(v) ? undefined : `"${printable(v)}" is not a two-letter country code such as NL`;
}

/** ssh -o options: KEY=VALUE with a plain key; the value goes to argv, never through a shell. */
export function checkSshOption(v: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9]*=\S+$/.test(v)) return `"${printable(v)}" is not an ssh option of the form KEY=VALUE (no spaces)`;
  // rsync -e "ssh -o …" is split by rsync itself, which treats quotes and backslashes specially.
  if (/['"\\]/.test(v)) return `"${printable(v)}" contains a quote or backslash, which cannot pass through rsync -e; leave them out`;
  return undefined;
}

/** Show a bad value safely on one line. */
export function printable(v: string): string {
  return v.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Closest known name, for "did you mean" hints. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

export function checkHostnameOrFqdn(v: string): string | undefined {
  return v.includes('.') ? checkFqdn(v) : checkHostname(v);
}

/** A domain may be a single label in a lab ("test"), but must otherwise be a DNS name. */
export function checkFqdnOrLabel(v: string): string | undefined {
  return v.includes('.') || v.endsWith('.') ? checkFqdn(v) : checkHostname(v);
}

/** Postfix's smtp_host_lookup: "dns", "native" or both, comma or space separated (empty: the host's own). */
export function checkHostLookup(v: string): string | undefined {
  const words = v.split(/[\s,]+/).filter(Boolean);
  const bad = words.find((w) => w !== 'dns' && w !== 'native');
  if (bad !== undefined || new Set(words).size !== words.length) {
    return `"${printable(v)}" is not a Postfix smtp_host_lookup; use dns, native or "dns, native" (empty leaves each client's own)`;
  }
  return undefined;
}

/** smtp_probe_host: a host name or IPv4 address, with an optional :PORT (25 by default). */
export function checkProbeHost(v: string): string | undefined {
  const m = /^([^:]+)(?::(\d+))?$/.exec(v);
  if (!m) return `"${printable(v)}" is not HOST or HOST:PORT; name an MX outside your network, e.g. "mx.example.net"`;
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return `"${printable(v)}" has port ${m[2]}; use 1 to 65535`;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(m[1]!) && m[1]!.split('.').every((o) => Number(o) <= 255)) return undefined;
  return checkFqdn(m[1]!);
}
