// Rotation bookkeeping: which previous certificates stay on the relay's allowlist while a client moves
// to a new key or certificate, and ending that window (renew --finish, or deploy of the client).
import { previousOf, without, withPrevious, type Rotation } from '../ca/rotations.js';
import type { Host } from '../settings/index.js';
import type { ProjectState } from '../state/project.js';

export interface RenewalFacts {
  /** The host's current certificate, relative path. */
  cert: string;
  revoked: boolean;
}

/** The rotations after renewing `hosts`: a client whose allowlist entry changes keeps the previous one. */
export function rotationsAfterRenewal(state: ProjectState, hosts: readonly Host[], rekey: ReadonlyMap<string, unknown>, facts: (h: Host) => RenewalFacts): Rotation[] {
  let rotations: Rotation[] = [...state.rotations()];
  for (const h of hosts) {
    if (h.role !== 'client') continue;
    const f = facts(h);
    if (f.revoked) {
      rotations = without(rotations, [h.fqdn]);
      continue;
    }
    if (!rekey.has(h.fqdn) && state.settings.fingerprintKind === 'pubkey') continue; // same key: same fingerprint
    rotations = withPrevious(rotations, h.fqdn, rekey.has(h.fqdn) ? 'rekey' : 'renew', previousOf(state.cert(f.cert)!));
  }
  return rotations;
}

/** Ends the rotations of these clients (those that have one); returns the clients whose rotation ended. */
export function finishRotations(state: ProjectState, fqdns: readonly string[]): string[] {
  const current = state.rotations();
  const finished = fqdns.filter((f) => current.some((r) => r.fqdn === f));
  if (finished.length) state.setRotations(without(current, finished));
  return finished;
}

/** Clients among `hosts` with a rotation in progress. */
export function rotating(state: ProjectState, hosts: readonly Host[]): string[] {
  return state.rotations().map((r) => r.fqdn).filter((f) => hosts.some((h) => h.fqdn === f));
}
