// One key, one host: each host's key file is compared with the key recorded for it (keys.json), with the
// keys of the other hosts and with the keys whose certificate was revoked. A key file is read only when
// its identity (inode, size, mtime, ctime, from the tree scan) differs from the recorded one, so a fleet's
// run reads no key that did not change. The CA database's revocations are added to the record as they
// appear (each revoked certificate read once, from newcerts/), so the record keeps them across `clean`.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { colonHex } from '../ca/fingerprint.js';
import { parseCert, type CertFacts } from '../ca/cert.js';
import type { IndexEntry } from '../ca/database.js';
import { allHosts, caFiles, hostFiles } from '../files/layout.js';
import { identityOf, racy, type FileStats } from '../files/tree.js';
import type { Settings } from '../settings/index.js';
import type { KeyIdentities, KeyRecord, RevokedKey } from './key-identities.js';

/** What the binding reads: the project state. */
export interface KeyFiles {
  readonly settings: Settings;
  read(rel: string): Buffer | undefined;
  stat(rel: string): FileStats | undefined;
  index(): readonly IndexEntry[];
  caCert(): CertFacts | undefined;
  isRevoked(certRel: string): boolean;
  /** The names in a directory of the trees as scanned. */
  names(dirRel: string): readonly string[] | undefined;
}

/**
 * Whether the key recorded as `fp` was set aside by renew --rekey (certs/<role>/retired/<fqdn>.<serial>.key.pem):
 * then the key file holds the key the re-key made, and a run killed before recording it is not refused.
 */
function retiredByRekey(files: KeyFiles, keyRel: string, fqdn: string, fp: string): boolean {
  const dir = `${path.posix.dirname(keyRel)}/retired`;
  for (const n of files.names(dir) ?? []) {
    if (!n.startsWith(`${fqdn}.`) || !n.endsWith('.key.pem')) continue;
    const pem = files.read(`${dir}/${n}`);
    if (pem && privateKeyFingerprint(pem) === fp) return true;
  }
  return false;
}

export type KeyProblemKind = 'shared' | 'changed' | 'revoked';
export const KEY_PROBLEM_KINDS: readonly KeyProblemKind[] = ['shared', 'changed', 'revoked'];

export interface KeyProblem {
  readonly kind: KeyProblemKind;
  readonly fqdn: string;
  readonly file: string;
  /** One line naming the host(s) or the file and what to do. */
  readonly line: string;
}

const spkiOf = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
export const keyFingerprint = (spki: Buffer): string => colonHex(createHash('sha256').update(spki).digest());
export const shortFp = (fp: string): string => `${fp.slice(0, 5)}:…:${fp.slice(-2)}`;

/** The public-key fingerprint of a PEM private key; undefined when it is not one (the trust check names it). */
export function privateKeyFingerprint(pem: Buffer): string | undefined {
  try {
    return keyFingerprint(spkiOf(createPublicKey(createPrivateKey(pem))));
  } catch {
    return undefined;
  }
}

const caIdOf = (ca: CertFacts) => createHash('sha256').update(spkiOf(ca.x509.publicKey)).digest('hex');

/**
 * The revoked keys: those recorded, plus every certificate the CA database marks revoked that the record
 * does not hold yet (read from newcerts/). `added` says whether the record should be written.
 */
export function revokedKeys(files: KeyFiles, ids: KeyIdentities): { list: RevokedKey[]; added: boolean } {
  const list = [...ids.revoked];
  const revoked = files.index().filter((e) => e.status === 'R');
  const ca = revoked.length ? files.caCert() : undefined;
  if (!ca) return { list, added: false };
  const caId = caIdOf(ca);
  const have = new Set(list.filter((r) => r.ca === caId).map((r) => r.serial));
  let added = false;
  for (const e of revoked) {
    if (have.has(e.serial)) continue;
    const cert = parseCert(files.read(`${caFiles(files.settings).newcerts}/${e.serial}.pem`));
    if (!cert || cert.serial !== e.serial) continue; // an adopted or damaged database: nothing to learn the key from
    const spki = spkiOf(cert.x509.publicKey);
    list.push({ fp: keyFingerprint(spki), spki: spki.toString('base64'), fqdn: /\/CN=([^/]+)/.exec(e.subject)?.[1] ?? '?', serial: e.serial, ca: caId });
    have.add(e.serial);
    added = true;
  }
  return { list, added };
}

/** The allowlist fingerprints (fingerprint_digest, public-key kind) of the revoked keys. */
export function revokedListFingerprints(revoked: readonly RevokedKey[], digest: string): Map<string, RevokedKey> {
  return new Map(revoked.map((r) => [colonHex(createHash(digest).update(Buffer.from(r.spki, 'base64')).digest()), r]));
}

/**
 * Every host's key against the record, the other hosts and the revoked keys. `skip`: hosts whose key
 * this run replaces (renew --rekey); `s`: the settings the run builds (add-client's, with the new client). Returns the problems and the record as it should be now (keys
 * adopted or re-read under a new identity); `changed` when that differs from `ids`.
 */
export function bindKeys(files: KeyFiles, ids: KeyIdentities, skip: ReadonlySet<string> = new Set(), s: Settings = files.settings): { problems: KeyProblem[]; next: KeyIdentities; changed: boolean } {
  const revoked = revokedKeys(files, ids);
  const now = Date.now();
  const current = new Map<string, { fp: string; rel: string; id: string }>();
  const unreadable: KeyProblem[] = [];
  for (const h of allHosts(s)) {
    if (skip.has(h.fqdn)) continue;
    const rel = hostFiles(h).key;
    const st = files.stat(rel);
    if (!st || !st.isFile()) continue; // missing: a new key is made; not a file: the tree check refuses it
    const rec = ids.hosts[h.fqdn];
    const id = racy(st, now) ? '' : identityOf(st);
    let fp = rec && rec.key === rel && rec.id !== '' && rec.id === id ? rec.fp : undefined;
    if (fp === undefined) {
      const pem = files.read(rel);
      fp = pem && privateKeyFingerprint(pem);
      if (fp === undefined) {
        // A recorded key that is no key any more (an OpenSSH key, a damaged file) is never copied or
        // certified; a first key that is unreadable is openssl's to name.
        if (rec) unreadable.push({ kind: 'changed', fqdn: h.fqdn, file: rel, line: `${h.fqdn}: key ${rel} is not a readable private key (damaged?); restore it from your backup, or delete it and ${hostFiles(h).cert} to give the host a new key` });
        continue;
      }
    }
    current.set(h.fqdn, { fp, rel, id });
  }
  // Who a key belongs to: the host it is recorded for, else the first host (relays first) holding it.
  const owner = new Map<string, string>();
  for (const [fqdn, r] of Object.entries(ids.hosts)) if (!owner.has(r.fp) && !skip.has(fqdn)) owner.set(r.fp, fqdn);
  for (const [fqdn, c] of current) if (!owner.has(c.fp)) owner.set(c.fp, fqdn);
  const revokedBy = new Map(revoked.list.map((r) => [r.fp, r]));
  const problems: KeyProblem[] = [...unreadable];
  const hosts: Record<string, KeyRecord> = { ...ids.hosts };
  let changed = revoked.added;
  for (const h of allHosts(s)) {
    const c = current.get(h.fqdn);
    if (!c) continue;
    const cert = hostFiles(h).cert;
    const fresh = `delete ${c.rel} and ${cert} to give ${h.fqdn} a new key`;
    const gone = revokedBy.get(c.fp);
    const own = owner.get(c.fp);
    const rec = ids.hosts[h.fqdn];
    if (gone && !files.isRevoked(cert)) {
      problems.push({ kind: 'revoked', fqdn: h.fqdn, file: c.rel, line: `${h.fqdn}: ${c.rel} holds the key of ${gone.fqdn}, whose certificate (serial ${gone.serial}) was revoked; a revoked key is never certified or listed again: ${fresh}` });
    } else if (own !== undefined && own !== h.fqdn) {
      problems.push({ kind: 'shared', fqdn: h.fqdn, file: c.rel, line: `${h.fqdn}: ${c.rel} holds the key of ${own} (${shortFp(c.fp)}); a key belongs to one host only: put ${h.fqdn}'s own key back, or ${fresh}` });
    } else if (rec && rec.fp !== c.fp && !retiredByRekey(files, c.rel, h.fqdn, rec.fp)) {
      problems.push({ kind: 'changed', fqdn: h.fqdn, file: c.rel, line: `${h.fqdn}: ${c.rel} no longer holds the key recorded for it (${shortFp(rec.fp)}, now ${shortFp(c.fp)}: changed outside the tool); put the recorded key back from your backup, or give ${h.fqdn} a new key: postfix-tls-relay renew ${h.fqdn} --rekey (or ${fresh.replace(' to give', ' to have the build give')})` });
    } else if (!rec || rec.key !== c.rel || rec.id !== c.id) {
      hosts[h.fqdn] = { key: c.rel, fp: c.fp, id: c.id };
      changed = true;
    }
  }
  return { problems, next: { hosts, revoked: revoked.list }, changed };
}

/** The record after the tool made a new key for `fqdn` (a first key, a re-key, a deleted key made again). */
export function keyMade(ids: KeyIdentities, fqdn: string, rel: string, pem: Buffer): KeyIdentities {
  const fp = privateKeyFingerprint(pem);
  if (fp === undefined) return ids;
  return { hosts: { ...ids.hosts, [fqdn]: { key: rel, fp, id: '' } }, revoked: ids.revoked };
}
