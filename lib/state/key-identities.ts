// .postfix-tls-relay/keys.json: which key (public-key fingerprint) belongs to which host, and the keys
// whose certificate was revoked. The relay trusts keys, not host names: this record is what lets a build
// tell a key copied from another host, or written over a host's key file, from the key the tool made.
// It carries trust (its shape: files/state-files.ts): a record of the wrong shape stops every command
// that writes or ships (exit 2), it is never read as "no keys known". `clean` keeps it, so a revoked key stays revoked across a new CA.
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { KEYS_FILE } from '../files/layout.js';
import { KEY_IDENTITIES, readStateFile } from '../files/state-files.js';

/** A host's key as recorded when the tool made, adopted or re-keyed it. */
export interface KeyRecord {
  /** The key file (relative path) the record was taken from. */
  readonly key: string;
  /** sha256 of the public key (SPKI DER), upper-case colon hex. */
  readonly fp: string;
  /** The key file's identity (files/tree.ts identityOf) when last read; '' when it must be read again. */
  readonly id: string;
}

/** A key whose certificate the CA database marks revoked: never certified or listed again. */
export interface RevokedKey {
  readonly fp: string;
  /** The public key (SPKI DER, base64): the allowlist's fingerprint of it in any digest. */
  readonly spki: string;
  readonly fqdn: string;
  /** The revoked certificate's serial and the CA that issued it (sha256 of the CA's public key, hex). */
  readonly serial: string;
  readonly ca: string;
}

export interface KeyIdentities {
  readonly hosts: Readonly<Record<string, KeyRecord>>;
  readonly revoked: readonly RevokedKey[];
}

export const NO_KEYS: KeyIdentities = { hosts: {}, revoked: [] };

/** keys.json as data; a missing file is an empty record, a damaged one an error naming it (exit 2). */
export function parseKeyIdentities(text: string | undefined): KeyIdentities {
  const d = readStateFile(KEY_IDENTITIES, text);
  if (!d) return NO_KEYS;
  const hosts: Record<string, KeyRecord> = Object.create(null) as Record<string, KeyRecord>;
  for (const [fqdn, r] of Object.entries(d.hosts)) hosts[fqdn] = { key: r.key, fp: r.fp, id: r.id };
  return { hosts, revoked: d.revoked.map((r) => ({ fp: r.fp, spki: r.spki, fqdn: r.fqdn, serial: r.serial, ca: r.ca })) };
}

/** Writes keys.json atomically (call holding the project lock). */
export function saveKeyIdentities(projectDir: string, k: KeyIdentities): void {
  const hosts = Object.fromEntries(Object.keys(k.hosts).sort().map((f) => [f, k.hosts[f]!]));
  writeFileAtomic(path.join(projectDir, KEYS_FILE), `${JSON.stringify({ version: 1, hosts, revoked: k.revoked }, null, 1)}\n`, 0o600);
}
