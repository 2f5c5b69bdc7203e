// The check service (`check [client|server|all]`): read each host's Postfix settings and deployed files over ssh and compare
// them with what this project would deploy. Exit 1 when anything differs or a host cannot be read.
import { evaluate, probeScript, type CheckResult } from '../remote/compare.js';
import * as sshCmd from '../programs/ssh.js';
import type { Command } from '../programs/command.js';
import type { Context, GlobalArgs } from '../cli/context.js';
import { assertBundlesReady } from './bundles.js';
import { readProjectState } from '../state/project.js';
import { RunError, UsageError } from '../errors.js';
import { DEPLOYMENTS_FILE, findHost, namedHosts, remoteFiles, selectHosts, type HostSelection } from '../files/layout.js';
import { liveCheck, resolveCheck } from '../remote/live.js';
import { negotiatedCheck } from '../remote/negotiated.js';
import { outboundTlsCheck, port25Check } from '../remote/port25.js';
import { checkRootJobs } from '../remote/compare.js';
import { readSecret } from '../cli/secret-prompt.js';
import { usesSudo } from '../remote/sudo.js';
import type { Probe, ProbeScript } from '../remote/probe.js';
import { closeConnections, reasonOf, releaseConnection, runRemote, unreachable } from '../remote/run.js';
import { describeSharing } from '../remote/connections.js';
import type { Host, Server, Settings } from '../settings/index.js';
import { sshOptionsFor } from '../remote/ssh-options.js';
import { checkPlugin, deployedCertDays } from '../monitoring/check-plugin.js';
import { thresholdsOf } from '../monitoring/thresholds.js';
import { recordDeployments } from '../remote/deployments.js';
import { withLock } from '../runner/lock.js';
import { presentedCheck, servedCheck } from '../remote/served.js';
import { shJoin } from '../programs/shell.js';
import type { Section } from '../remote/probe.js';

export interface CheckArgs extends GlobalArgs {
  which: HostSelection;
  /** Only these hosts (fqdn or host name) of the selection, as deploy takes them. */
  hosts?: string[];
  sshOption?: string[];
  live: boolean;
  askSudoPass?: boolean;
  nagios?: boolean;
  warnDays?: number;
  critDays?: number;
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
  // Plugin mode: only the status line on stdout (errors become UNKNOWN in main).
  const thresholds = args.nagios ? thresholdsOf(args.warnDays, args.critDays) : undefined;
  if (args.nagios && (args.json || args.dryRun)) throw new UsageError('check --nagios prints a plugin line; it cannot be combined with --json or --dry-run');
  const s = ctx.settings;
  const options = sshOptionsFor(args.sshOption, s, ctx.report);
  const hosts = namedHosts('check', selectHosts(s, args.which), args.hosts, s.domain);
  if (args.live && !hosts.some((h) => h.role === 'client')) ctx.report.warn('--live probes the relays with STARTTLS from the client hosts (check client --live or check all --live); here it probes outbound port 25 only');
  const plans = hosts.map((host) => {
    const probe = probeScript(s, host, args.live, args.askSudoPass ? 'stdin' : 'nopasswd');
    return { host, probe, cmd: sshCmd.ssh(host.ssh, options, probe.text()) };
  });

  if (args.dryRun) {
    ctx.report.result(
      { dryRun: true, hosts: plans.map((p) => ({ fqdn: p.host.fqdn, role: p.host.role, command: p.cmd.display })) },
      () => [...plans.map((p) => `${p.host.fqdn}: would run\n  ${p.cmd.display}`), ...(plans.length ? [describeSharing(plans[0]!.host, options)] : [])].join('\n'),
    );
    return 0;
  }
  // Expectations come from the bundles: say so when they are not what a build would make now.
  const state = readProjectState(s);
  state.checkTrustRecords(); // check records what it finds in deployments.json
  await assertBundlesReady(state, hosts).catch((err: unknown) => {
    if (!(err instanceof RunError)) throw err;
    ctx.report.warn(`${err.message}; comparing with the bundles in out/ as they are`);
  });

  // A key that is another host's, changed outside the tool or revoked fails its host's check (as in status --check).
  const keyProblems = state.keyProblems();
  const keyChecks = (fqdn: string): CheckResult[] => keyProblems.filter((k) => k.fqdn === fqdn)
    .map((k) => ({ name: `key ${k.file} in this project`, ok: false, expected: 'the key recorded for this host, of no other host, not revoked', actual: k.line }));

  const password = args.askSudoPass && hosts.some(usesSudo) ? await readSecret('sudo password on the hosts: ') : undefined;
  const results: HostCheck[] = [];
  const deployedDays = new Map<string, number | null>();
  // Whether the relay has the current certificate file: tells a missing deploy from a missing reload.
  const relayCertFile = new Map<string, boolean | undefined>();
  try {
    for (const { host, probe: script, cmd } of plans) {
      // sudo -S reads one line per call: the password once for each root command of the probe.
      const input = password && usesSudo(host) ? Buffer.concat(checkRootJobs(s, host, args.live).map(() => Buffer.concat([password, Buffer.from('\n')]))) : undefined;
      const checks = await checkHost(ctx.projectDir, host, cmd, input, script, (l) => ctx.report.detail(l), (probe) => {
        const found = evaluate(s, host, probe, (rel) => state.read(rel) ?? Buffer.alloc(0));
        deployedDays.set(host.fqdn, deployedCertDays(s, host, probe));
        if (args.live) found.push(port25Check(s, host, probe.get('port25')));
        if (args.live && host.role === 'server') found.push(outboundTlsCheck(host, probe.get('smtp_tls')));
        if (host.role !== 'client') return found;
        // Every relay, in order: each must resolve as this client's Postfix looks it up and accept it.
        s.servers.forEach((relay, i) => {
          const { mode, ...resolveResult } = resolveCheck(relay, probe.get('lookup'), (m) => probe.get(`resolve.${i}.${m}`));
          found.push(resolveResult);
          if (args.live) {
            if (mode) found.push(negotiatedCheck(s.relayTlsProfile, relay, probe.get(`live.${i}.${mode}`)));
            if (mode) found.push(...liveCertChecks(s, relay, probe.get(`live.${i}.${mode}`), relayCertFile.get(relay.fqdn), options));
            found.push(mode ? liveCheck(relay, probe.get(`live.${i}.${mode}`)) : { name: `live STARTTLS to [${relay.fqdn}]:${relay.port} with the client certificate`, ok: false, expected: 'Verified TLS connection, EHLO 250 inside TLS', actual: `not tried: ${relay.fqdn} does not resolve as the client's Postfix looks it up` });
          }
        });
        // The client certificate the probes presented: the same file to every relay, checked once.
        if (args.live) found.push(...[presentedCheck(s, host, probe)].filter((c): c is CheckResult => c !== undefined));
        return found;
      });
      if (host.role === 'server') relayCertFile.set(host.fqdn, checks.find((c) => c.name === `file ${remoteFiles(s, host).cert}`)?.ok);
      checks.unshift(...keyChecks(host.fqdn));
      results.push({ fqdn: host.fqdn, role: host.role, target: `${host.ssh.user}@${host.ssh.host}:${host.ssh.port}`, ok: checks.every((c) => c.ok), checks });
      releaseConnection(ctx.projectDir, host.ssh);
    }
  } finally {
    await closeConnections(ctx.projectDir);
  }
  password?.fill(0);
  await recordChecks(ctx, results);
  if (args.nagios) {
    const r = checkPlugin(results.map((h) => ({ ...h, deployedDays: deployedDays.get(h.fqdn) ?? null, certPath: remoteFiles(s, findHost(s, h.fqdn)!).cert })), thresholds!);
    process.stdout.write(`${r.line}\n`);
    return r.code;
  }
  const total = results.reduce((n, r) => n + r.checks.length, 0);
  const failed = results.reduce((n, r) => n + r.checks.filter((c) => !c.ok).length, 0);
  ctx.report.result({ ok: failed === 0, checks: total, failed, hosts: results }, () =>
    [
      ...results.map((r) => [`${r.fqdn} (${r.role === 'server' ? (s.servers.length > 1 ? 'a relay' : 'the relay') : 'smtp client'}, ${r.target})`, ...r.checks.map(line)].join('\n')),
      failed === 0 ? `all ${total} checks OK` : `${failed} of ${total} checks FAILED`,
    ].join('\n'),
  );
  return failed === 0 ? 0 : 1;
}

/** What `relay` serves, seen by the live probe from a client host. */
function liveCertChecks(s: Settings, relay: Server, live: Section | undefined, relayCertFile: boolean | undefined, options: readonly string[]): CheckResult[] {
  const reload = sshCmd.ssh(relay.ssh, options, shJoin(['postfix', '-c', relay.postfixDir, 'reload'])).display;
  return [servedCheck(s, relay, live, relayCertFile, reload)].filter((c): c is CheckResult => c !== undefined);
}

/**
 * How long check waits for another run's project lock before it leaves deployments.json as it is:
 * another check holds it for milliseconds; a build or deploy for longer, and records itself after.
 */
export const CHECK_RECORD_LOCK_WAIT_MS = 10_000;

/**
 * For monitoring: a host is current when every check but the live ones is OK (those test the path to
 * the relay). The read-merge-write of deployments.json runs under the project lock, as deploy's does,
 * taken only for that moment: the probes never hold up a build, renew or deploy.
 */
async function recordChecks(ctx: Context, results: readonly HostCheck[]): Promise<void> {
  try {
    const onWait = (pid: number) => ctx.report.info(`waiting for pid ${pid} to finish its work in this project before recording the check in ${DEPLOYMENTS_FILE} …`);
    await withLock(ctx.projectDir, { waitMs: CHECK_RECORD_LOCK_WAIT_MS, onWait }, () =>
      recordDeployments(ctx.settings, 'check', results.map((r) => ({ host: findHost(ctx.settings, r.fqdn)!, ok: r.checks.every((c) => c.ok || c.name.startsWith('live ')) }))));
  } catch (err) {
    ctx.report.warn(`${DEPLOYMENTS_FILE}: not updated (${err instanceof Error ? err.message : String(err)}); monitoring shows the previous deploy or check`);
  }
}

async function checkHost(
  projectDir: string,
  host: Host,
  cmd: Command,
  input: Buffer | undefined,
  script: ProbeScript,
  progress: (line: string) => void,
  evaluateProbe: (probe: Probe) => CheckResult[],
): Promise<CheckResult[]> {
  progress(`+ ${cmd.display}`);
  let r;
  try {
    r = await runRemote(projectDir, `check:${host.fqdn}`, cmd, input);
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
