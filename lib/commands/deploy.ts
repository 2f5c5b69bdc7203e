// `deploy [client|server|all]`: every relay first, then each client, up to --jobs hosts at once; one host
// failing never undoes or stops another. A client in a key rotation that now runs with its new key ends
// the rotation: the allowlist is rebuilt without the old entry and the relays of this deploy get it.
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { assertBundlesReady, hostCommands, relayAllowlistProbe, type HostDeploy } from '../remote/deploy.js';
import { deployFleet, deployPhase, type FleetOptions } from '../remote/fleet.js';
import { RunError } from '../errors.js';
import { selectHosts, type HostSelection } from '../files/layout.js';
import { buildPlan } from '../plan/plan.js';
import { finishRotation, loadRotations } from '../ca/rotations.js';
import { jobsOf, withSession } from '../runner/session.js';
import { isRelay } from '../settings/index.js';
import { recordRelaysDeployed, relaysBehind } from '../state/relays-deployed.js';
import { sshOptionsFor } from '../remote/ssh-options.js';

export interface DeployArgs extends GlobalArgs {
  which: HostSelection;
  sshOption?: string[];
}

/** Hosts deployed at once when --jobs is not given: a few, so that a fleet goes faster without flooding. */
export const DEPLOY_JOBS = 4;

function summary(r: HostDeploy): string {
  if (r.state === 'failed') return `${r.fqdn}: FAILED (see the error above)`;
  if (r.state === 'skipped') return `${r.fqdn}: skipped (${r.error})`;
  if (r.state === 'unchanged') return `${r.fqdn}: unchanged`;
  const parts = [];
  if (r.files.length) parts.push(`${r.files.length} file(s) updated`);
  if (r.applyChanges) parts.push(`${r.applyChanges} change(s) applied`);
  if (r.reloaded) parts.push('Postfix reloaded');
  return `${r.fqdn}: ${parts.join(', ')}`;
}

function totals(results: readonly HostDeploy[], jobs: number, ms: number): string {
  const n = (st: HostDeploy['state']) => results.filter((r) => r.state === st).length;
  return `deploy: ${results.length} host(s): ${n('updated')} updated, ${n('unchanged')} unchanged, ${n('failed')} failed, ${n('skipped')} skipped (--jobs ${jobs}, ${(ms / 1000).toFixed(1)} s)`;
}

export async function deploy(args: DeployArgs): Promise<number> {
  const ctx = loadContext(args);
  const s = ctx.settings;
  const options = sshOptionsFor(args.sshOption, s, ctx.report);
  const jobs = args.jobs === undefined ? DEPLOY_JOBS : jobsOf(args.jobs);
  const hosts = selectHosts(s, args.which);
  const plans = hosts.map((h) => ({ host: h, cmds: hostCommands(s, h, options) }));
  const relaysIncluded = hosts.filter(isRelay);
  // Relays not in this run are read first: they must already list the clients' entries.
  const guards = hosts.some((h) => !isRelay(h)) ? s.servers.filter((r) => !relaysIncluded.includes(r)).map((r) => ({ relay: r, cmd: relayAllowlistProbe(r, options).cmd })) : [];
  const rotating = loadRotations(ctx.projectDir).map((r) => r.fqdn).filter((f) => hosts.some((h) => h.fqdn === f));

  if (args.dryRun) {
    let stale: string | null = null;
    try {
      await assertBundlesReady(s, hosts);
    } catch (err) {
      if (!(err instanceof RunError)) throw err;
      stale = err.message;
      ctx.report.warn(stale);
    }
    const then = rotating.length
      ? `then, for ${rotating.join(', ')} (in a key rotation): end the rotation, rebuild the allowlist${relaysIncluded.length ? ` and deploy ${relaysIncluded.map((r) => r.fqdn).join(', ')} again` : ''}`
      : null;
    ctx.report.result(
      {
        dryRun: true,
        ready: stale === null,
        jobs,
        relayAllowlistChecks: guards.map((g) => ({ fqdn: g.relay.fqdn, command: g.cmd.display })),
        hosts: plans.map((p) => ({ fqdn: p.host.fqdn, role: p.host.role, rsync: p.cmds.rsync.display, apply: p.cmds.apply.display, reloadIfOnlyFilesChanged: p.cmds.reload.display })),
        rotationsToFinish: rotating,
      },
      () => [
        ...guards.map((g) => `${g.relay.fqdn} (a relay): would read its allowlist, to make sure it lists the clients\n  ${g.cmd.display}`),
        ...plans.map((p) => [
          `${p.host.fqdn} (${isRelay(p.host) ? 'a relay' : 'smtp client'}): would run`,
          `  ${p.cmds.rsync.display}`,
          `  ${p.cmds.apply.display}`,
          `  and, if rsync replaced a file but apply.sh changed nothing:`,
          `  ${p.cmds.reload.display}`,
        ].join('\n')),
        `up to ${jobs} host(s) at once: the relays, then the clients`,
        ...(then ? [then] : []),
      ].join('\n'),
    );
    return 0;
  }

  return withSession(ctx, async (session) => {
    const t0 = performance.now();
    await assertBundlesReady(s, hosts);
    const fleet: FleetOptions = { settings: s, sshOptions: options, jobs, out: ctx.report };
    const { relays, clients } = await deployFleet(fleet, hosts);
    const results = [...relays, ...clients];
    recordRelaysDeployed(ctx.projectDir, relays.filter((r) => r.state !== 'failed').map((r) => r.fqdn));

    // Clients that run with their new key now: the relays can forget the old one.
    const finished = clients
      .filter((r) => (r.state === 'updated' || r.state === 'unchanged') && rotating.includes(r.fqdn))
      .map((r) => r.fqdn)
      .filter((fqdn) => finishRotation(ctx.projectDir, fqdn));
    let relaysAgain: HostDeploy[] = [];
    if (finished.length) {
      ctx.report.info(`rotation finished for ${finished.join(', ')}: rebuilding the allowlist without the previous entries`);
      await session.run(buildPlan(s));
      relaysAgain = await deployPhase(fleet, relaysIncluded);
      recordRelaysDeployed(ctx.projectDir, relaysAgain.filter((r) => r.state !== 'failed').map((r) => r.fqdn));
    }
    const behind = finished.length ? relaysBehind(s) : [];
    if (behind.length) {
      ctx.report.warn(`${behind.map((r) => r.fqdn).join(', ')} still list the previous entries of ${finished.join(', ')}; drop them with: postfix-tls-relay deploy server`);
    }

    const failed = [...results, ...relaysAgain].filter((r) => r.state === 'failed' || r.state === 'skipped');
    ctx.report.result({ ok: failed.length === 0, jobs, hosts: results, rotationsFinished: finished, relaysAfterRotation: relaysAgain, relayAfterRotation: relaysAgain[0] ?? null }, () =>
      [
        ...results.map(summary),
        ...relaysAgain.map((r) => `${summary(r)} (previous entries of ${finished.join(', ')} dropped)`),
        totals([...results, ...relaysAgain], jobs, performance.now() - t0),
      ].join('\n'),
    );
    return failed.length ? 1 : 0;
  });
}
