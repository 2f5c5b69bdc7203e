// Rotations in progress: a client whose key (renew --rekey) or certificate fingerprint (renew with
// fingerprint_kind = cert) changed keeps its previous entry on the relay's allowlist until it runs with
// the new one (`renew --finish`, or a deploy of that client). Kept in .postfix-tls-relay/rotations.json.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { RunError } from '../errors.js';
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

export function loadRotations(projectDir: string): Rotation[] {
  let text: string;
  try {
    text = readFileSync(path.join(projectDir, ROTATIONS_FILE), 'utf8');
  } catch {
    return [];
  }
  try {
    const data = JSON.parse(text) as { rotations?: Rotation[] };
    return Array.isArray(data.rotations) ? data.rotations : [];
  } catch {
    // Losing these entries would drop a client from the relay mid-rotation: stop instead.
    throw new RunError(`${ROTATIONS_FILE}: not valid JSON; repair it or delete it (the relay then lists only current certificates)`);
  }
}

export function saveRotations(projectDir: string, rotations: readonly Rotation[]): void {
  const sorted = [...rotations].sort((a, b) => a.fqdn.localeCompare(b.fqdn));
  writeFileAtomic(path.join(projectDir, ROTATIONS_FILE), `${JSON.stringify({ rotations: sorted }, null, 2)}\n`, 0o600);
}

export function previousOf(certPem: string | Buffer): PreviousCert {
  const c = new X509Certificate(certPem);
  return { serial: c.serialNumber.toUpperCase(), notAfter: new Date(c.validTo).toISOString(), pem: c.toString() };
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

/**
 * Ends a client's rotation once it runs with its new key or certificate — for deploy, after the client's
 * bundle was applied. The caller rebuilds (the allowlist drops the old entry) and deploys the relay.
 * Returns false when no rotation was in progress.
 */
export function finishRotation(projectDir: string, fqdn: string): boolean {
  const current = loadRotations(projectDir);
  if (!current.some((r) => r.fqdn === fqdn)) return false;
  saveRotations(projectDir, without(current, [fqdn]));
  return true;
}

/** The allowlist lines a rotation keeps: the previous certificates' fingerprints. */
export function retiringEntries(rotations: readonly Rotation[], clients: ReadonlySet<string>, digest: string, kind: FingerprintKind): { fqdn: string; fingerprint: string }[] {
  return rotations
    .filter((r) => clients.has(r.fqdn))
    .flatMap((r) => r.previous.map((p) => ({ fqdn: r.fqdn, fingerprint: fingerprint(p.pem, digest, kind) })));
}
