// Which allowlist each relay got on its last successful deploy. A revocation or the end of a key rotation
// takes effect on a relay only when it has the current allowlist: complete only when every relay has it.
// Read and written through the project state (the one owner of project files).
import { createHash } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { ALLOWLIST, RELAYS_DEPLOYED_FILE } from '../files/layout.js';
import { RELAYS_DEPLOYED, readStateFile } from '../files/state-files.js';
import type { ProjectState } from './project.js';

export interface RelayDeployed {
  /** sha256 of the allowlist the relay got. */
  allowlist: string;
  at: string;
}

export type RelaysDeployed = Record<string, RelayDeployed>;

export function loadRelaysDeployed(state: ProjectState): RelaysDeployed {
  // Missing: every relay shows as "not deployed by this tool"; of the wrong shape: the run stops (exit 2).
  return { ...readStateFile(RELAYS_DEPLOYED, state.readChecked(RELAYS_DEPLOYED_FILE))?.relays };
}

/** sha256 of the allowlist as built now, undefined before the first build. */
export function currentAllowlistSha(state: ProjectState): string | undefined {
  const data = state.read(ALLOWLIST);
  return data ? createHash('sha256').update(data).digest('hex') : undefined;
}

/** Records that `fqdns` now have the allowlist as built (call after their deploy succeeded). */
export function recordRelaysDeployed(state: ProjectState, fqdns: readonly string[], now = new Date()): void {
  const sha = currentAllowlistSha(state);
  if (!sha || fqdns.length === 0) return;
  const relays = loadRelaysDeployed(state);
  for (const f of fqdns) relays[f] = { allowlist: sha, at: now.toISOString() };
  const sorted = Object.fromEntries(Object.entries(relays).sort(([a], [b]) => a.localeCompare(b)));
  writeFileAtomic(path.join(state.settings.projectDir, RELAYS_DEPLOYED_FILE), `${JSON.stringify({ relays: sorted }, null, 2)}\n`, 0o600);
  state.invalidate(RELAYS_DEPLOYED_FILE);
}

/** The relays of the settings whose last deploy did not carry the allowlist as built now. */
export function relaysBehind(state: ProjectState): string[] {
  const sha = currentAllowlistSha(state);
  const deployed = loadRelaysDeployed(state);
  return state.settings.servers.filter((r) => sha === undefined || deployed[r.fqdn]?.allowlist !== sha).map((r) => r.fqdn);
}
