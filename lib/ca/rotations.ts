// Rotations in progress: a client whose key (renew --rekey) or certificate fingerprint (renew with
// fingerprint_kind = cert) changed keeps its previous entry on the relay's allowlist until it runs with
// the new one (`renew --finish`, or a deploy of that client). Kept in .postfix-tls-relay/rotations.json.
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { ROTATIONS, readStateFile } from '../files/state-files.js';
import type { CertFacts } from './cert.js';
import { fingerprint, type FingerprintKind } from './fingerprint.js';
import { ROTATIONS_FILE } from '../files/layout.js';

export interface PreviousCert {
  serial: string;
  notAfter: string;
  /** The certificate itself (public), so its fingerprint follows signature_hash and fingerprint_kind. */
  pem: string;
}

export interface Rotation {
  fqdn: string;
  reason: 'rekey' | 'renew';
  started: string;
  /** Certificates the client may still present, oldest first. */
  previous: PreviousCert[];
}

/** Losing these entries would drop a client from the relay mid-rotation: a record of the wrong shape stops the run (exit 2). */
export function parseRotations(text: string | Buffer | undefined): Rotation[] {
  return readStateFile(ROTATIONS, text)?.rotations ?? [];
}

export function saveRotations(projectDir: string, rotations: readonly Rotation[]): void {
  const sorted = [...rotations].sort((a, b) => a.fqdn.localeCompare(b.fqdn));
  writeFileAtomic(path.join(projectDir, ROTATIONS_FILE), `${JSON.stringify({ rotations: sorted }, null, 2)}\n`, 0o600);
}

export function previousOf(cert: CertFacts): PreviousCert {
  return { serial: cert.serial, notAfter: cert.notAfter.toISOString(), pem: cert.x509.toString() };
}

/** Adds `prev` to the host's rotation (starting one if needed); a certificate already kept is not added twice. */
export function withPrevious(rotations: readonly Rotation[], fqdn: string, reason: Rotation['reason'], prev: PreviousCert, now = new Date()): Rotation[] {
  const existing = rotations.find((r) => r.fqdn === fqdn);
  if (!existing) return [...rotations, { fqdn, reason, started: now.toISOString(), previous: [prev] }];
  const previous = existing.previous.some((p) => p.serial === prev.serial) ? existing.previous : [...existing.previous, prev];
  const merged: Rotation = { ...existing, reason: existing.reason === 'rekey' || reason === 'rekey' ? 'rekey' : 'renew', previous };
  return rotations.map((r) => (r.fqdn === fqdn ? merged : r));
}

export function without(rotations: readonly Rotation[], fqdns: Iterable<string>): Rotation[] {
  const drop = new Set(fqdns);
  return rotations.filter((r) => !drop.has(r.fqdn));
}

/** The allowlist lines a rotation keeps: the previous certificates' fingerprints. */
export function retiringEntries(rotations: readonly Rotation[], clients: ReadonlySet<string>, digest: string, kind: FingerprintKind): { fqdn: string; fingerprint: string }[] {
  return rotations
    .filter((r) => clients.has(r.fqdn))
    .flatMap((r) => r.previous.map((p) => ({ fqdn: r.fqdn, fingerprint: fingerprint(p.pem, digest, kind) })));
}
