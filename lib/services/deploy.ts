// The deploy service (`deploy [client|server|all]`): the relay first, then each client; one host failing never undoes another.
// A client in a key rotation that now runs with its new key ends the rotation: the allowlist is rebuilt
// without the old entry and the relay, when it is part of this deploy, gets it right away.
import type { Context, GlobalArgs } from '../cli/context.js';
import { assertRelayTrusts, deployHost, emptyResult, relayAllowlistProbe, type HostDeploy } from '../remote/deploy.js';
import { hostCommands, type HostCommands } from '../remote/host-commands.js';
import { readSecret } from '../cli/secret-prompt.js';
import { usesSudo } from '../remote/sudo.js';
import { RunError, UsageError } from '../errors.js';
import { ALLOWLIST, selectHosts, type HostSelection } from '../files/layout.js';
import { revokedHosts } from '../plan/hosts.js';
import { buildPlan } from '../plan/plan.js';
import { withSession } from '../runner/session.js';
import { assertBundlesReady } from './bundles.js';
import { finishRotations, rotating as rotatingOf } from './rotation.js';
import { readProjectState } from '../state/project.js';
import type { Host } from '../settings/index.js';
import { sshOptionsFor } from '../remote/ssh-options.js';

export interface DeployArgs extends GlobalArgs {
  which: HostSelection;
  /** Only these hosts (fqdn or host name) of the selection. */
  hosts?: string[];
  sshOption?: string[];
  askSudoPass?: boolean;
}

/** The selection narrowed to the named hosts; a name that is not in it is a usage error. */
function namedHosts(all: Host[], names: readonly string[] | undefined, domain: string): Host[] {
  if (!names?.length) return all;
  return names.map((n) => {
    const h = all.find((x) => x.fqdn === n || x.fqdn === `${n}.${domain}`);
    if (!h) throw new UsageError(`deploy: ${n} is not one of the selected hosts (${all.map((x) => x.fqdn).join(', ')}); check smtp_client_hostnames in settings.mk`);
    return h;
  });
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
async function deployReported(ctx: Context, host: Host, cmds: HostCommands, sudoPassword?: Buffer): Promise<HostDeploy> {
  try {
    const r = await deployHost(ctx.settings, host, cmds, (line) => ctx.report.detail(`${host.fqdn}: ${line}`), sudoPassword);
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
  const selected = namedHosts(selectHosts(s, args.which), args.hosts, s.domain);
  // A revoked client's bundle never ships again; it is named and skipped.
  const revoked = revokedHosts(s, readProjectState(s));
  const hosts = selected.filter((h) => !revoked.has(h.fqdn));
  const skippedRevoked = selected.filter((h) => revoked.has(h.fqdn));
  const mode = args.askSudoPass ? 'stdin' as const : 'nopasswd' as const;
  const plans = hosts.map((h) => ({ host: h, cmds: hostCommands(s, h, options, mode) }));
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
        hosts: plans.map((p) => ({ fqdn: p.host.fqdn, role: p.host.role, prerequisites: p.cmds.prerequisites.display, stage: p.cmds.stage?.display ?? null, rsync: p.cmds.rsync.display, apply: p.cmds.apply.display, reloadIfOnlyFilesChanged: p.cmds.reload.display, sudoers: p.cmds.sudoers })),
        skippedRevoked: skippedRevoked.map((h) => h.fqdn),
        rotationsToFinish: rotating,
      },
      () => [
        ...(guard ? [`${s.server.fqdn} (the relay): would read its allowlist, to make sure it lists the clients\n  ${guard.display}`] : []),
        ...plans.map((p) => [
          `${p.host.fqdn} (${p.host.role === 'server' ? 'the relay' : 'smtp client'}): would run`,
          `  ${p.cmds.prerequisites.display}`,
          ...(p.cmds.stage ? [`  ${p.cmds.stage.display}`] : []),
          `  ${p.cmds.rsync.display}`,
          `  ${p.cmds.apply.display}`,
          `  and, if rsync replaced a file but apply.sh changed nothing:`,
          `  ${p.cmds.reload.display}`,
        ].join('\n')),
        ...skippedRevoked.map((h) => `${h.fqdn}: skipped (revoked)`),
        ...(then ? [then] : []),
      ].join('\n'),
    );
    return 0;
  }

  return withSession(ctx, async (session) => {
    await assertBundlesReady(session.state, hosts);
    const sudoPassword = args.askSudoPass && hosts.some(usesSudo) ? await readSecret('sudo password on the hosts: ') : undefined;
    const results: HostDeploy[] = [];
    for (const h of skippedRevoked) {
      ctx.report.info(`${h.fqdn}: skipped: its certificate is revoked (postfix-tls-relay revoke); its bundle is not deployed`);
      results.push(emptyResult(h, 'skipped', 'revoked'));
    }
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
      const r = await deployReported(ctx, host, cmds, sudoPassword);
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
        relayAgain = await deployReported(ctx, s.server, hostCommands(s, s.server, options, mode), sudoPassword);
      } else {
        ctx.report.warn(`the relay still lists the previous entries of ${finished.join(', ')}; drop them with: postfix-tls-relay deploy server`);
      }
    }

    sudoPassword?.fill(0);
    const failed = [...results, ...(relayAgain ? [relayAgain] : [])].filter((r) => r.state === 'failed' || (r.state === 'skipped' && r.error !== 'revoked'));
    ctx.report.result({ ok: failed.length === 0, hosts: results, rotationsFinished: finished, relayAfterRotation: relayAgain }, () =>
      [
        ...results.map(summary),
        ...(relayAgain ? [`${summary(relayAgain)} (previous entries of ${finished.join(', ')} dropped)`] : []),
      ].join('\n'),
    );
    return failed.length ? 1 : 0;
  });
}
