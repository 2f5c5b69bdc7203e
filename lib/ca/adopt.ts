// Adopting a tree made by the seed Makefile (or any certificates our CA key signed without the
// `openssl ca` database): find them so that build records them before it re-issues v3 certificates
// with the same keys, and say what is kept as it is.
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { allHosts, caFiles, hostFiles } from '../files/layout.js';
import type { Settings } from '../settings/index.js';
import { signedBy, type CertFacts } from './cert.js';
import { caExtensions } from './x509-info.js';

/** What adoption looks at: the project's certificates and key files (the project state). */
export interface AdoptedFiles {
  cert(rel: string): CertFacts | undefined;
  stat(rel: string): { mode: number } | undefined;
}

/** Remarks about an existing tree being adopted; fixes private key modes (the Makefile left its CA key 0700). */
export function adoptionNotes(s: Settings, files: AdoptedFiles): string[] {
  const dir = s.projectDir;
  const notes: string[] = [];
  const ca = caFiles(s);
  const caCert = files.cert(ca.cert);
  if (caCert) {
    for (const h of allHosts(s)) {
      const rel = hostFiles(h).cert;
      const c = files.cert(rel);
      if (c && !signedBy(c, caCert)) {
        // The seed Makefile makes a new CA key whenever its directories change, i.e. on its next run.
        notes.push(`${rel}: not signed by this CA's key (an earlier CA, e.g. from a previous Makefile run); it is re-issued with the same key, not recorded`);
      }
    }
    const x = caExtensions(caCert.x509);
    if (!x.hasKeyUsage || x.pathLen === undefined) {
      notes.push(
        `${ca.cert}: kept as it is, although it has ${[!x.hasKeyUsage && 'no keyUsage', x.pathLen === undefined && 'no path length limit'].filter(Boolean).join(' and ')} `
        + '(Postfix accepts it; openssl verify -x509_strict does not); "postfix-tls-relay renew --ca" re-signs it with the same key and the proper extensions',
      );
    }
  }
  for (const key of [ca.key, ...allHosts(s).map((h) => hostFiles(h).key)]) {
    const file = path.join(dir, key);
    const st = files.stat(key);
    if (!st) continue;
    const mode = st.mode & 0o777;
    if (mode !== 0o600) {
      chmodSync(file, 0o600);
      notes.push(`${key}: private key mode was ${mode.toString(8).padStart(4, '0')}, set to 0600`);
    }
  }
  return notes;
}
