// The check service (`check [client|server|all]`): read each host's Postfix settings and deployed files over ssh and compare
// them with what this project would deploy. Exit 1 when anything differs or a host cannot be read.
import { evaluate, probeScript, type CheckResult } from '../remote/compare.js';
import * as sshCmd from '../programs/ssh.js';
import type { Command } from '../programs/command.js';
import type { Context, GlobalArgs } from '../cli/context.js';
import { assertBundlesReady } from './bundles.js';
import { readProjectState } from '../state/project.js';
import { RunError } from '../errors.js';
import { selectHosts, type HostSelection } from '../files/layout.js';
import { liveCheck, liveProbeArgv } from '../remote/live.js';
import type { Probe, ProbeScript } from '../remote/probe.js';
import { reasonOf, runRemote, unreachable } from '../remote/run.js';
import type { Host } from '../settings/index.js';
import { sshOptionsFor } from '../remote/ssh-options.js';

export interface CheckArgs extends GlobalArgs {
  which: HostSelection;
  sshOption?: string[];
  live: boolean;
}

interface HostCheck {
  fqdn: string;
  role: Host['role'];
  target: string;
  ok: boolean;
  checks: CheckResult[];
}

function line(c: CheckResult): string {
  return c.ok ? `  OK    ${c.name}: ${c.actual}` : `  FAIL  ${c.name}: expected ${c.expected}, actual ${c.actual}`;
}

export async function check(ctx: Context, args: CheckArgs): Promise<number> {
  const s = ctx.settings;
  const options = sshOptionsFor(args.sshOption, s, ctx.report);
  const hosts = selectHosts(s, args.which);
  if (args.live && !hosts.some((h) => h.role === 'client')) ctx.report.warn('--live probes the relay from the client hosts; run check client --live or check all --live');
  const plans = hosts.map((host) => {
    const probe = probeScript(s, host, args.live && host.role === 'client' ? liveProbeArgv(s, host) : undefined);
    return { host, probe, cmd: sshCmd.ssh(host.ssh, options, probe.text()) };
  });

  if (args.dryRun) {
    ctx.report.result(
      { dryRun: true, hosts: plans.map((p) => ({ fqdn: p.host.fqdn, role: p.host.role, command: p.cmd.display })) },
      () => plans.map((p) => `${p.host.fqdn}: would run\n  ${p.cmd.display}`).join('\n'),
    );
    return 0;
  }
  // Expectations come from the bundles: say so when they are not what a build would make now.
  const state = readProjectState(s);
  await assertBundlesReady(state, hosts).catch((err: unknown) => {
    if (!(err instanceof RunError)) throw err;
    ctx.report.warn(`${err.message}; comparing with the bundles in out/ as they are`);
  });

  const results: HostCheck[] = [];
  for (const { host, probe: script, cmd } of plans) {
    const checks = await checkHost(ctx.projectDir, host, cmd, script, (l) => ctx.report.detail(l), (probe) => {
      const found = evaluate(s, host, probe, (rel) => state.read(rel) ?? Buffer.alloc(0));
      if (args.live && host.role === 'client') found.push(liveCheck(s, probe.get('live')));
      return found;
    });
    results.push({ fqdn: host.fqdn, role: host.role, target: `${host.ssh.user}@${host.ssh.host}:${host.ssh.port}`, ok: checks.every((c) => c.ok), checks });
  }
  const total = results.reduce((n, r) => n + r.checks.length, 0);
  const failed = results.reduce((n, r) => n + r.checks.filter((c) => !c.ok).length, 0);
  ctx.report.result({ ok: failed === 0, checks: total, failed, hosts: results }, () =>
    [
      ...results.map((r) => [`${r.fqdn} (${r.role === 'server' ? 'the relay' : 'smtp client'}, ${r.target})`, ...r.checks.map(line)].join('\n')),
      failed === 0 ? `all ${total} checks OK` : `${failed} of ${total} checks FAILED`,
    ].join('\n'),
  );
  return failed === 0 ? 0 : 1;
}

async function checkHost(
  projectDir: string,
  host: Host,
  cmd: Command,
  script: ProbeScript,
  progress: (line: string) => void,
  evaluateProbe: (probe: Probe) => CheckResult[],
): Promise<CheckResult[]> {
  progress(`+ ${cmd.display}`);
  let r;
  try {
    r = await runRemote(projectDir, `check:${host.fqdn}`, cmd);
  } catch (err) {
    if (!(err instanceof RunError)) throw err;
    return [{ name: `ssh ${host.ssh.user}@${host.ssh.host}`, ok: false, expected: 'reachable', actual: err.message }];
  }
  const down = unreachable(host, r);
  if (down) return [{ name: `ssh ${host.ssh.user}@${host.ssh.host} port ${host.ssh.port}`, ok: false, expected: 'reachable', actual: down.message }];
  const probe = script.parse(r.stdoutText);
  if (probe.size === 0) {
    return [{ name: `probe on ${host.fqdn}`, ok: false, expected: 'output of the read-only probe', actual: `exit ${r.exitCode}: ${reasonOf(r.stderr)}` }];
  }
  return evaluateProbe(probe);
}
