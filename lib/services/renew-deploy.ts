// `renew --deploy`: after renewing, deploy exactly the hosts whose bundle differs from what they were
// last known to have (deployments.json; without a record, from the bundle before this renewal) — the
// hosts renewed now, and any a previous unattended run could not reach. Same session, same lock.
import type { Context } from '../cli/context.js';
import { allHosts } from '../files/layout.js';
import { bundleDigest, loadDeployments } from '../remote/deployments.js';
import type { Session } from '../runner/session.js';
import { deployInSession, prepareDeploy, type DeployData } from './deploy.js';

export type Digests = Map<string, string | null>;

export function bundleDigests(ctx: Context): Digests {
  return new Map(allHosts(ctx.settings).map((h) => [h.fqdn, bundleDigest(ctx.settings, h)]));
}

/** Deploys the changed hosts (the relays first); null when none changed. */
export async function deployChanged(ctx: Context, session: Session, before: Digests, sshOption: readonly string[] | undefined): Promise<{ failed: number; data: DeployData } | null> {
  const s = ctx.settings;
  const known = loadDeployments(ctx.projectDir);
  const changed = allHosts(s).filter((h) => {
    const now = bundleDigest(s, h);
    const r = known[h.fqdn];
    const had = r ? (r.ok ? r.bundle : null) : before.get(h.fqdn);
    return now !== had;
  });
  if (changed.length === 0) return null;
  ctx.report.info(`deploying ${changed.map((h) => h.fqdn).join(', ')}: their files changed`);
  const r = await deployInSession(ctx, session, prepareDeploy(ctx, { which: 'all', hosts: changed.map((h) => h.fqdn), sshOption: sshOption ? [...sshOption] : undefined, askSudoPass: false }));
  ctx.report.info(r.text);
  return { failed: r.failed, data: r.data };
}
