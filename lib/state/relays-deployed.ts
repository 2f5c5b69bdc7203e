// Which allowlist each relay got on its last successful deploy. A revocation or the end of a key rotation
// takes effect on a relay only when it has the current allowlist: complete only when every relay has it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { ALLOWLIST, RELAYS_DEPLOYED_FILE } from '../files/layout.js';
import type { Server, Settings } from '../settings/index.js';

export interface RelayDeployed {
  /** sha256 of the allowlist the relay got. */
  allowlist: string;
  at: string;
}

export type RelaysDeployed = Record<string, RelayDeployed>;

export function loadRelaysDeployed(projectDir: string): RelaysDeployed {
  try {
    const data = JSON.parse(readFileSync(path.join(projectDir, RELAYS_DEPLOYED_FILE), 'utf8')) as { relays?: RelaysDeployed };
    return data.relays && typeof data.relays === 'object' ? data.relays : {};
  } catch {
    // Only a record: without it every relay shows as "not known to have the current allowlist".
    return {};
  }
}

/** sha256 of the allowlist as built now, undefined before the first build. */
export function currentAllowlistSha(projectDir: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(path.join(projectDir, ALLOWLIST))).digest('hex');
  } catch {
    return undefined;
  }
}

/** Records that `fqdns` now have the allowlist as built (call after their deploy succeeded). */
export function recordRelaysDeployed(projectDir: string, fqdns: readonly string[], now = new Date()): void {
  const sha = currentAllowlistSha(projectDir);
  if (!sha || fqdns.length === 0) return;
  const relays = loadRelaysDeployed(projectDir);
  for (const f of fqdns) relays[f] = { allowlist: sha, at: now.toISOString() };
  const sorted = Object.fromEntries(Object.entries(relays).sort(([a], [b]) => a.localeCompare(b)));
  writeFileAtomic(path.join(projectDir, RELAYS_DEPLOYED_FILE), `${JSON.stringify({ relays: sorted }, null, 2)}\n`, 0o600);
}

/** The relays of the settings whose last deploy did not carry the allowlist as built now. */
export function relaysBehind(s: Settings): Server[] {
  const sha = currentAllowlistSha(s.projectDir);
  const deployed = loadRelaysDeployed(s.projectDir);
  return s.servers.filter((r) => sha === undefined || deployed[r.fqdn]?.allowlist !== sha);
}
