// Before a bundle leaves this workstation (deploy) or is compared with a host (check): the build is
// up to date, every file of the bundle is byte-for-byte what the build wrote, and none of them is (or
// holds) an encrypted private key such as the CA key.
import { RunError } from '../errors.js';
import { octal, wideKeys } from '../files/key-modes.js';
import { buildPlan } from '../plan/plan.js';
import { bundleManifest } from '../plan/bundle.js';
import { stale } from '../runner/staleness.js';
import type { Host } from '../settings/index.js';
import { readProjectState, type ProjectState } from '../state/project.js';
import type { Settings } from '../settings/index.js';
import { sha256 } from '../state/records.js';

/** Refuses (exit 1) to export or ship while a key is another host's, changed outside the tool, or revoked. */
export function assertKeysBound(s: Settings): void {
  readProjectState(s).bindKeys();
}

export async function assertBundlesReady(state: ProjectState, hosts: readonly Host[]): Promise<void> {
  const s = state.settings;
  const files = hosts.flatMap((h) => bundleManifest(s, h).files);
  // The worst case first, whatever else is wrong: the CA key must never leave this workstation.
  const caKey = state.read(state.ca.key);
  for (const f of files) {
    const data = state.read(f.local);
    if (data && ((caKey && data.equals(caKey)) || /ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(data.toString('latin1')))) {
      throw new RunError(`${f.local} is (or holds) an encrypted private key such as the CA key, which must never leave this workstation; remove it and run postfix-tls-relay build`);
    }
  }
  // A key that is another host's, changed outside the tool or revoked is never shipped.
  state.bindKeys();
  // Nor one others may read (rsync keeps the mode; a build sets it back to 0600).
  const shipped = new Set(files.map((f) => f.local));
  const wide = wideKeys(state.tree).find((k) => shipped.has(k.file));
  if (wide) throw new RunError(`${wide.file}: a private key with mode ${octal(wide.mode)}, which is never shipped; run postfix-tls-relay build (it sets it back to 0600), then deploy`);
  const pending = stale(buildPlan(s, state), state)[0];
  if (pending) {
    throw new RunError(`the build is not up to date (${pending.step.title}: ${pending.reason}); run postfix-tls-relay build first, then deploy`);
  }
  for (const f of files) {
    const data = state.read(f.local);
    // Hashed in full whatever its identity: this is what a host installs as root.
    if (data === undefined || sha256(data) !== state.records.get(f.local)?.sha256) {
      throw new RunError(`${f.local} is not what the build wrote (changed outside the tool); run postfix-tls-relay build to make it again, then deploy`);
    }
  }
}
