// `deploy [client|server|all]`: the relay first, then each client; one host failing never undoes another.
import { loadContext, type GlobalArgs } from '../context.js';
import { assertBundlesReady, assertRelayTrusts, deployHost, emptyResult, hostCommands, relayAllowlistProbe, type HostDeploy } from '../deploy.js';
import { RunError } from '../errors.js';
import { selectHosts, type HostSelection } from '../layout.js';
import { acquireLock } from '../lock.js';
import { sshOptionsFor } from '../ssh-options.js';

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

export async function deploy(args: DeployArgs): Promise<number> {
  const ctx = loadContext(args);
  const s = ctx.settings;
  const options = sshOptionsFor(args.sshOption, s, ctx.report);
  const hosts = selectHosts(s, args.which);
  const plans = hosts.map((h) => ({ host: h, cmds: hostCommands(s, h, options) }));
  // Without the relay in this run, first make sure it already trusts the clients' certificates.
  const guard = hosts.some((h) => h.role === 'server') ? undefined : relayAllowlistProbe(s, options).cmd;

  if (args.dryRun) {
    let stale: string | null = null;
    try {
      await assertBundlesReady(s, hosts);
    } catch (err) {
      if (!(err instanceof RunError)) throw err;
      stale = err.message;
      ctx.report.warn(stale);
    }
    ctx.report.result(
      {
        dryRun: true,
        ready: stale === null,
        relayAllowlistCheck: guard?.display ?? null,
        hosts: plans.map((p) => ({ fqdn: p.host.fqdn, role: p.host.role, rsync: p.cmds.rsync.display, apply: p.cmds.apply.display, reloadIfOnlyFilesChanged: p.cmds.reload.display })),
      },
      () => [...(guard ? [`${s.server.fqdn} (the relay): would read its allowlist, to make sure it lists the clients\n  ${guard.display}`] : []), ...plans.map((p) => [
        `${p.host.fqdn} (${p.host.role === 'server' ? 'the relay' : 'smtp client'}): would run`,
        `  ${p.cmds.rsync.display}`,
        `  ${p.cmds.apply.display}`,
        `  and, if rsync replaced a file but apply.sh changed nothing:`,
        `  ${p.cmds.reload.display}`,
      ].join('\n'))].join('\n'),
    );
    return 0;
  }

  const release = acquireLock(ctx.projectDir);
  const results: HostDeploy[] = [];
  try {
    await assertBundlesReady(s, hosts);
    // Set when the clients must wait: a client must never use a certificate the relay may not trust yet.
    let skip: string | undefined;
    if (guard) {
      try {
        await assertRelayTrusts(s, hosts, options);
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
      try {
        const r = await deployHost(s, host, cmds, (line) => ctx.report.detail(`${host.fqdn}: ${line}`));
        for (const f of r.files) ctx.report.info(`${host.fqdn}: ${f.change} ${f.path}`);
        for (const l of r.applyOutput.slice(0, -1)) ctx.report.info(`${host.fqdn}: ${l}`);
        results.push(r);
      } catch (err) {
        if (!(err instanceof RunError)) throw err;
        results.push(emptyResult(host, 'failed', err.message));
        ctx.report.error(err.message);
        if (host.role === 'server') skip = `the relay ${s.server.fqdn} was not deployed, and a client must not use a certificate the relay may not trust yet`;
      }
    }
  } finally {
    release();
  }
  const failed = results.filter((r) => r.state === 'failed' || r.state === 'skipped');
  ctx.report.result({ ok: failed.length === 0, hosts: results }, () => results.map(summary).join('\n'));
  return failed.length ? 1 : 0;
}
