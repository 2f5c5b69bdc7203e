// Adopting a tree made by the seed Makefile (or any certificates our CA key signed without the
// `openssl ca` database): find them so that build records them before it re-issues v3 certificates
// with the same keys, and say what is kept as it is.
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readIndex } from './database.js';
import { allHosts, caFiles, hostFiles } from '../files/layout.js';
import type { Settings } from '../settings/index.js';
import { caExtensions } from './x509-info.js';

function readCert(file: string | Buffer): X509Certificate | undefined {
  try {
    return new X509Certificate(Buffer.isBuffer(file) ? file : readFileSync(file));
  } catch {
    return undefined;
  }
}

/** Upper-case hex serial of a certificate (file path or PEM), undefined when there is none. */
export function certSerial(file: string | Buffer): string | undefined {
  return readCert(file)?.serialNumber.toUpperCase();
}

/** Host certificates signed by our CA key that the CA database does not know (relative paths). */
export function unrecordedCerts(s: Settings): string[] {
  const dir = s.projectDir;
  const ca = readCert(path.join(dir, caFiles(s).cert));
  if (!ca) return [];
  const known = new Set(readIndex(dir, s).map((e) => e.serial));
  return allHosts(s)
    .map((h) => hostFiles(h).cert)
    .filter((rel) => {
      const c = readCert(path.join(dir, rel));
      return c !== undefined && !known.has(c.serialNumber.toUpperCase()) && c.checkIssued(ca) && c.verify(ca.publicKey);
    });
}

/** True when a CA certificate exists but the CA database does not: the tree came from elsewhere. */
export function isForeignTree(s: Settings): boolean {
  const ca = caFiles(s);
  return existsSync(path.join(s.projectDir, ca.cert)) && !existsSync(path.join(s.projectDir, ca.index));
}

/** Remarks about an existing tree being adopted; fixes private key modes (the Makefile left its CA key 0700). */
export function adoptionNotes(s: Settings): string[] {
  const dir = s.projectDir;
  const notes: string[] = [];
  const ca = caFiles(s);
  const caCert = readCert(path.join(dir, ca.cert));
  if (caCert) {
    for (const h of allHosts(s)) {
      const rel = hostFiles(h).cert;
      const c = readCert(path.join(dir, rel));
      if (c && !(c.checkIssued(caCert) && c.verify(caCert.publicKey))) {
        // The seed Makefile makes a new CA key whenever its directories change, i.e. on its next run.
        notes.push(`${rel}: not signed by this CA's key (an earlier CA, e.g. from a previous Makefile run); it is re-issued with the same key, not recorded`);
      }
    }
    const x = caExtensions(caCert);
    if (!x.hasKeyUsage || x.pathLen === undefined) {
      notes.push(
        `${ca.cert}: kept as it is, although it has ${[!x.hasKeyUsage && 'no keyUsage', x.pathLen === undefined && 'no path length limit'].filter(Boolean).join(' and ')} `
        + '(Postfix accepts it; openssl verify -x509_strict does not); "postfix-tls-relay renew --ca" re-signs it with the same key and the proper extensions',
      );
    }
  }
  for (const key of [ca.key, ...allHosts(s).map((h) => hostFiles(h).key)]) {
    const file = path.join(dir, key);
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    if (mode !== 0o600) {
      chmodSync(file, 0o600);
      notes.push(`${key}: private key mode was ${mode.toString(8).padStart(4, '0')}, set to 0600`);
    }
  }
  return notes;
}
