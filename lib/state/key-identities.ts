// .postfix-tls-relay/keys.json: which key (public-key fingerprint) belongs to which host, and the keys
// whose certificate was revoked. The relay trusts keys, not host names: this record is what lets a build
// tell a key copied from another host, or written over a host's key file, from the key the tool made.
// It carries trust: a record of the wrong shape stops every command that writes or ships (exit 2), it is
// never read as "no keys known". `clean` keeps it, so a revoked key stays revoked across a new CA.
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { KEYS_FILE } from '../files/layout.js';
import { UsageError } from '../errors.js';

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

const FP = /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/;
const str = (v: unknown): v is string => typeof v === 'string';

/** What is wrong with the record's shape, or undefined when it is one this tool writes. */
function shapeProblem(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'not a JSON object';
  const d = data as Record<string, unknown>;
  if (d.version !== 1) return `version ${JSON.stringify(d.version)} is not 1`;
  if (typeof d.hosts !== 'object' || d.hosts === null || Array.isArray(d.hosts)) return '"hosts" is not an object';
  for (const [fqdn, r] of Object.entries(d.hosts as Record<string, unknown>)) {
    const e = r as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || !str(e.key) || !str(e.fp) || !FP.test(e.fp) || !str(e.id)) return `"hosts"."${fqdn}" is not {key, fp, id}`;
  }
  if (!Array.isArray(d.revoked)) return '"revoked" is not a list';
  for (const [i, r] of (d.revoked as unknown[]).entries()) {
    const e = r as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || !str(e.fp) || !FP.test(e.fp) || !str(e.spki) || !str(e.fqdn) || !str(e.serial) || !str(e.ca)) return `"revoked"[${i}] is not {fp, spki, fqdn, serial, ca}`;
  }
  return undefined;
}

/** keys.json as data; a missing file is an empty record, a damaged one an error naming it (exit 2). */
export function parseKeyIdentities(text: string | undefined): KeyIdentities {
  if (text === undefined) return NO_KEYS;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  const wrong = data === undefined ? 'not JSON' : shapeProblem(data);
  if (wrong) {
    throw new UsageError(`${KEYS_FILE}: ${wrong}, so which key belongs to which host (and which keys were revoked) is unknown and nothing is built or shipped; restore it from your backup (or, having checked every key, move it away: the next build records the keys as they are)`);
  }
  const d = data as { hosts: Record<string, KeyRecord>; revoked: RevokedKey[] };
  const hosts: Record<string, KeyRecord> = Object.create(null) as Record<string, KeyRecord>;
  for (const [fqdn, r] of Object.entries(d.hosts)) hosts[fqdn] = { key: r.key, fp: r.fp, id: r.id };
  return { hosts, revoked: d.revoked.map((r) => ({ fp: r.fp, spki: r.spki, fqdn: r.fqdn, serial: r.serial, ca: r.ca })) };
}

/** Writes keys.json atomically (call holding the project lock). */
export function saveKeyIdentities(projectDir: string, k: KeyIdentities): void {
  const hosts = Object.fromEntries(Object.keys(k.hosts).sort().map((f) => [f, k.hosts[f]!]));
  writeFileAtomic(path.join(projectDir, KEYS_FILE), `${JSON.stringify({ version: 1, hosts, revoked: k.revoked }, null, 1)}\n`, 0o600);
}
