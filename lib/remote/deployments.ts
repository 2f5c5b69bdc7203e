// What the hosts had the last time this project looked: each `deploy` and `check` records, per host,
// whether the host ended up with (deploy) or was found with (check) its bundle, and a digest of that
// bundle. Monitoring compares the digest with the bundle as it is now: "deployed and current" means
// the last look succeeded and nothing was built since. Kept in .postfix-tls-relay/deployments.json.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { DEPLOYMENTS_FILE } from '../files/layout.js';
import { DEPLOYMENTS, loadStateFile } from '../files/state-files.js';
import type { Host, Settings } from '../settings/index.js';
import { bundleManifest } from '../plan/bundle.js';

export interface HostRecord {
  role: Host['role'];
  /** Which command looked last (undeploy: the host no longer has the bundle). */
  source: 'deploy' | 'check' | 'undeploy';
  /** When (ISO 8601). */
  time: string;
  /** The host had every file and setting of its bundle (deploy succeeded, or every check was OK). */
  ok: boolean;
  /** bundleDigest() of the bundle deployed or compared, null when it could not be read. */
  bundle: string | null;
}

export type Deployments = Record<string, HostRecord>;

/** sha256 over the bundle's file names and contents: changes whenever a build changes what ships. */
export function bundleDigest(s: Settings, host: Host): string | null {
  const h = createHash('sha256');
  try {
    for (const f of [...bundleManifest(s, host).files].sort((a, b) => a.remote.localeCompare(b.remote))) {
      const data = readFileSync(path.join(s.projectDir, f.local));
      h.update(`${f.remote}\0${createHash('sha256').update(data).digest('hex')}\n`);
    }
  } catch {
    return null; // not built yet
  }
  return h.digest('hex');
}

export function loadDeployments(projectDir: string): Deployments {
  // None yet: the next deploy or check writes it; of the wrong shape: the run stops (exit 2).
  // The shape also knows the records undeploy writes (source "undeploy").
  return { ...(loadStateFile(projectDir, DEPLOYMENTS)?.hosts as Deployments | undefined) };
}

/** Records what `source` found on each host (read, merged, written atomically). Call holding the project lock. */
export function recordDeployments(s: Settings, source: HostRecord['source'], results: readonly { host: Host; ok: boolean }[], now = new Date()): void {
  const hosts = loadDeployments(s.projectDir);
  for (const { host, ok } of results) {
    hosts[host.fqdn] = { role: host.role, source, time: now.toISOString(), ok, bundle: bundleDigest(s, host) };
  }
  writeFileAtomic(path.join(s.projectDir, DEPLOYMENTS_FILE), `${JSON.stringify({ version: 1, hosts }, null, 2)}\n`);
}

/** Deployed and current: the last look was OK and the bundle is still the one it saw. */
export function isCurrent(s: Settings, host: Host, record: HostRecord | undefined): boolean {
  return record !== undefined && record.ok && record.bundle !== null && record.bundle === bundleDigest(s, host);
}
