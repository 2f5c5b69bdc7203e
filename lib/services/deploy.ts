// The deploy service (`deploy [client|server|all]`): the relay first, then each client; one host failing never undoes another.
// A client in a key rotation that now runs with its new key ends the rotation: the allowlist is rebuilt
// without the old entry and the relay, when it is part of this deploy, gets it right away.
import type { Context, GlobalArgs } from '../cli/context.js';
import { assertRelayTrusts, deployHost, emptyResult, hostCommands, relayAllowlistProbe, type HostCommands, type HostDeploy } from '../remote/deploy.js';
import { RunError } from '../errors.js';
import { ALLOWLIST, selectHosts, type HostSelection } from '../files/layout.js';
import { buildPlan } from '../plan/plan.js';
import { withSession } from '../runner/session.js';
import { assertBundlesReady } from './bundles.js';
import { finishRotations, rotating as rotatingOf } from './rotation.js';
import { readProjectState } from '../state/project.js';
import type { Host } from '../settings/index.js';
import { sshOptionsFor } from '../remote/ssh-options.js';

export interface DeployArgs extends GlobalArgs {
  which: HostSelection;
  sshOption?: string[];
}

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

/** Deploys one host, reporting what changed; a failure becomes a "failed" result (and its error line). */
async function deployReported(ctx: Context, host: Host, cmds: HostCommands): Promise<HostDeploy> {
  try {
    const r = await deployHost(ctx.settings, host, cmds, (line) => ctx.report.detail(`${host.fqdn}: ${line}`));
    for (const f of r.files) ctx.report.info(`${host.fqdn}: ${f.change} ${f.path}`);
    for (const l of r.applyOutput.slice(0, -1)) ctx.report.info(`${host.fqdn}: ${l}`);
    return r;
  } catch (err) {
    if (!(err instanceof RunError)) throw err;
    ctx.report.error(err.message);
    return emptyResult(host, 'failed', err.message);
  }
}

export async function deploy(ctx: Context, args: DeployArgs): Promise<number> {
  const s = ctx.settings;
  const options = sshOptionsFor(args.sshOption, s, ctx.report);
  const hosts = selectHosts(s, args.which);
  const plans = hosts.map((h) => ({ host: h, cmds: hostCommands(s, h, options) }));
  const relayIncluded = hosts.some((h) => h.role === 'server');
  // Without the relay in this run, first make sure it already trusts the clients' certificates.
  const guard = relayIncluded ? undefined : relayAllowlistProbe(s, options).cmd;
  const rotating = rotatingOf(readProjectState(s), hosts);

  if (args.dryRun) {
    let stale: string | null = null;
    try {
      await assertBundlesReady(readProjectState(s), hosts);
    } catch (err) {
      if (!(err instanceof RunError)) throw err;
      stale = err.message;
      ctx.report.warn(stale);
    }
    const then = rotating.length
      ? `then, for ${rotating.join(', ')} (in a key rotation): end the rotation, rebuild the allowlist${relayIncluded ? ` and deploy ${s.server.fqdn} again` : ''}`
      : null;
    ctx.report.result(
      {
        dryRun: true,
        ready: stale === null,
        relayAllowlistCheck: guard?.display ?? null,
        hosts: plans.map((p) => ({ fqdn: p.host.fqdn, role: p.host.role, rsync: p.cmds.rsync.display, apply: p.cmds.apply.display, reloadIfOnlyFilesChanged: p.cmds.reload.display })),
        rotationsToFinish: rotating,
      },
      () => [
        ...(guard ? [`${s.server.fqdn} (the relay): would read its allowlist, to make sure it lists the clients\n  ${guard.display}`] : []),
        ...plans.map((p) => [
          `${p.host.fqdn} (${p.host.role === 'server' ? 'the relay' : 'smtp client'}): would run`,
          `  ${p.cmds.rsync.display}`,
          `  ${p.cmds.apply.display}`,
          `  and, if rsync replaced a file but apply.sh changed nothing:`,
          `  ${p.cmds.reload.display}`,
        ].join('\n')),
        ...(then ? [then] : []),
      ].join('\n'),
    );
    return 0;
  }

  return withSession(ctx, async (session) => {
    await assertBundlesReady(session.state, hosts);
    const results: HostDeploy[] = [];
    // Set when the clients must wait: a client must never use a certificate the relay may not trust yet.
    let skip: string | undefined;
    if (guard) {
      try {
        await assertRelayTrusts(s, hosts, options, session.state.text(ALLOWLIST) ?? '');
      } catch (err) {
        if (!(err instanceof RunError)) throw err;
        ctx.report.error(err.message);
        skip = `the relay ${s.server.fqdn} does not list it yet`;
      }
    }
    for (const { host, cmds } of plans) {
      if (skip) {
        results.push(emptyResult(host, 'skipped', skip));
        continue;
      }
      const r = await deployReported(ctx, host, cmds);
      results.push(r);
      if (r.state === 'failed' && host.role === 'server') {
        skip = `the relay ${s.server.fqdn} was not deployed, and a client must not use a certificate the relay may not trust yet`;
      }
    }

    // Clients that run with their new key now: the relay can forget the old one.
    const finished = finishRotations(session.state, results
      .filter((r) => r.role === 'client' && (r.state === 'updated' || r.state === 'unchanged') && rotating.includes(r.fqdn))
      .map((r) => r.fqdn));
    let relayAgain: HostDeploy | null = null;
    if (finished.length) {
      ctx.report.info(`rotation finished for ${finished.join(', ')}: rebuilding the allowlist without the previous entries`);
      await session.run(buildPlan(s, session.state));
      if (relayIncluded) {
        relayAgain = await deployReported(ctx, s.server, hostCommands(s, s.server, options));
      } else {
        ctx.report.warn(`the relay still lists the previous entries of ${finished.join(', ')}; drop them with: postfix-tls-relay deploy server`);
      }
    }

    const failed = [...results, ...(relayAgain ? [relayAgain] : [])].filter((r) => r.state === 'failed' || r.state === 'skipped');
    ctx.report.result({ ok: failed.length === 0, hosts: results, rotationsFinished: finished, relayAfterRotation: relayAgain }, () =>
      [
        ...results.map(summary),
        ...(relayAgain ? [`${summary(relayAgain)} (previous entries of ${finished.join(', ')} dropped)`] : []),
      ].join('\n'),
    );
    return failed.length ? 1 : 0;
  });
}
