// The undeploy service (`undeploy HOST…`): each named host back to what it had before the first deploy
// (apply.sh's record), the tool's files and service gone, Postfix reloaded, the result confirmed by a probe.
// One host failing stops nothing else; an unknown host is a usage error before anything runs.
import type { Context, GlobalArgs } from '../cli/context.js';
import { readSecret } from '../cli/secret-prompt.js';
import { RunError, UsageError } from '../errors.js';
import { DEPLOYMENTS_FILE, findHost } from '../files/layout.js';
import * as sshCmd from '../programs/ssh.js';
import { loadDeployments, recordDeployments } from '../remote/deployments.js';
import { hostCommands } from '../remote/host-commands.js';
import { sshOptionsFor } from '../remote/ssh-options.js';
import { usesSudo } from '../remote/sudo.js';
import { closeConnections } from '../remote/run.js';
import { undeployHost, undeployProbe, type HostUndeploy } from '../remote/undeploy.js';
import { withLock } from '../runner/lock.js';
import { readProjectState } from '../state/project.js';
import type { Host } from '../settings/index.js';

export interface UndeployArgs extends GlobalArgs {
  hosts: string[];
  sshOption?: string[];
  askSudoPass?: boolean;
}

function summary(r: HostUndeploy): string {
  if (r.state === 'nothing-to-do') return `${r.fqdn}: nothing to do (no apply script, no record there: already undeployed)`;
  if (r.state === 'failed') return `${r.fqdn}: FAILED: ${r.error}`;
  return `${r.fqdn}: undeployed: ${r.changes} change(s); confirmed: main.cf and master.cf as recorded before the first deploy, the tool's files gone`;
}

export async function undeploy(ctx: Context, args: UndeployArgs): Promise<number> {
  const s = ctx.settings;
  if (!args.hosts?.length) throw new UsageError('undeploy: name the hosts to take off (fqdn or host name), e.g. postfix-tls-relay undeploy oldhost');
  const hosts: Host[] = [...new Set(args.hosts)].map((n) => findHost(s, n) ?? (() => {
    throw new UsageError(`undeploy: ${n} is not a host of settings.mk (${[...s.servers, ...s.clients].map((h) => h.fqdn).join(', ')}); a host taken out of the settings: put it back in for the undeploy`);
  })());
  // Nothing is taken off while a record of what the hosts have is wrong (undeploy records into deployments.json).
  readProjectState(s).checkTrustRecords();
  const options = sshOptionsFor(args.sshOption, s, ctx.report);
  const mode = args.askSudoPass ? 'stdin' as const : 'nopasswd' as const;
  const plans = hosts.map((h) => ({ host: h, cmds: hostCommands(s, h, options, mode), probe: sshCmd.ssh(h.ssh, options, undeployProbe(s, h).text()) }));
  if (args.dryRun) {
    ctx.report.result(
      { dryRun: true, hosts: plans.map((p) => ({ fqdn: p.host.fqdn, role: p.host.role, probe: p.probe.display, undeploy: p.cmds.undeploy.display, sudoers: p.cmds.sudoers })) },
      () => plans.map((p) => `${p.host.fqdn}: would read (the apply script, its record, postconf -n/-M) and, when both are there, run\n  ${p.probe.display}\n  ${p.cmds.undeploy.display}\n  then read again to confirm`).join('\n'),
    );
    return 0;
  }
  const known = loadDeployments(s.projectDir);
  // A relay taken off while clients still send through it: their mail waits in their queues.
  const staying = s.clients.filter((c) => !hosts.includes(c)).map((c) => c.fqdn);
  for (const r of hosts.filter((h) => h.role === 'server')) {
    if (staying.length) ctx.report.warn(`${r.fqdn} is a relay: ${staying.join(', ')} still send through it until they are deployed without it (take it out of smtpd_server_hostnames, build, deploy client) or undeployed`);
  }
  const password = args.askSudoPass && hosts.some(usesSudo) ? await readSecret('sudo password on the hosts: ') : undefined;
  const results: HostUndeploy[] = [];
  try {
    for (const { host, cmds } of plans) {
      const input = cmds.sudoStdin && password ? Buffer.concat([password, Buffer.from('\n')]) : undefined;
      try {
        const r = await undeployHost(s, host, cmds, options, known[host.fqdn]?.source === 'undeploy', (l) => ctx.report.detail(l), input);
        for (const l of r.output) ctx.report.detail(l);
        results.push(r);
      } catch (err) {
        if (!(err instanceof RunError)) throw err;
        ctx.report.warn(err.message);
        results.push({ fqdn: host.fqdn, role: host.role, state: 'failed', output: [], changes: 0, leftovers: [], error: err.message });
      }
    }
  } finally {
    // One connection per host for the probe, the undo and the confirmation: closed here.
    await closeConnections(s.projectDir);
  }
  password?.fill(0);
  const done = results.filter((r) => r.state === 'undeployed');
  if (done.length) {
    try {
      await withLock(ctx.projectDir, { waitMs: 10_000 }, () => recordDeployments(s, 'undeploy', done.map((r) => ({ host: findHost(s, r.fqdn)!, ok: false }))));
    } catch (err) {
      ctx.report.warn(`${DEPLOYMENTS_FILE}: not updated (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  const failed = results.filter((r) => r.state === 'failed').length;
  ctx.report.result({ ok: failed === 0, hosts: results }, () => results.map(summary).join('\n'));
  return failed ? 1 : 0;
}
