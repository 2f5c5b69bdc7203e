// Deploying one host: send its bundle files with rsync, run its apply script over ssh, and reload
// Postfix when rsync replaced a file Postfix reads but the script had nothing else to change.
import * as sshCmd from '../programs/ssh.js';
import type { Command } from '../programs/command.js';
import { RunError } from '../errors.js';
import { ALLOWLIST, remoteFiles } from '../files/layout.js';
import { bundleManifest, bundleTargets } from '../plan/bundle.js';
import { parseAllowlist } from '../postfix/allowlist.js';
import { ProbeScript } from './probe.js';
import { reasonOf, runRemote, unreachable } from './run.js';
import type { Host, Settings } from '../settings/index.js';
import { shJoin } from '../programs/shell.js';

export interface FileChange {
  /** Absolute path on the host. */
  path: string;
  /** rsync's itemize code, e.g. "<f+++++++++" (file sent) or ".f...p....." (mode changed). */
  change: string;
}

/** Lines of `rsync --itemize-changes`: "YXcstpoguax path". */
export function parseItemized(stdout: string): FileChange[] {
  return stdout
    .split('\n')
    .map((l) => /^([<>ch.*][fdLDS][^ ]*) (.+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ change: m[1]!, path: `/${m[2]!.replace(/^\/+/, '').replace(/\/$/, '')}` }));
}

/** The last line of apply.sh: "apply: <fqdn>: unchanged" or "apply: <fqdn>: N change(s) applied". */
export function parseApplyResult(stdout: string, fqdn: string): number | undefined {
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  const m = /^apply: (\S+): (?:unchanged|(\d+) change\(s\) applied)$/.exec(last);
  if (!m || m[1] !== fqdn) return undefined;
  return m[2] === undefined ? 0 : Number(m[2]);
}

export interface HostCommands {
  rsync: Command;
  apply: Command;
  /** Run only when rsync replaced a file Postfix reads and apply.sh changed (and reloaded) nothing. */
  reload: Command;
}

const REMOTE_PATH = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH';

export function hostCommands(s: Settings, host: Host, sshOptions: readonly string[]): HostCommands {
  const m = bundleManifest(s, host);
  const dir = sshCmd.rsyncFiles({ root: m.root, files: bundleTargets(m), target: host.ssh, options: sshOptions });
  const pf = shJoin(['postfix', '-c', host.postfixDir]);
  return {
    rsync: dir,
    apply: sshCmd.ssh(host.ssh, sshOptions, shJoin(['sh', remoteFiles(s, host).applyScript])),
    reload: sshCmd.ssh(
      host.ssh,
      sshOptions,
      `${REMOTE_PATH}; if ${pf} status >/dev/null 2>&1; then ${pf} reload; else echo ${shJoin([`Postfix (${host.postfixDir}) is not running; nothing to reload`])}; fi`,
    ),
  };
}

export type DeployState = 'unchanged' | 'updated' | 'failed' | 'skipped';

export interface HostDeploy {
  fqdn: string;
  role: Host['role'];
  target: string;
  state: DeployState;
  /** Files rsync created or changed on the host. */
  files: FileChange[];
  /** Changes apply.sh reported (0 = unchanged), null when it did not run. */
  applyChanges: number | null;
  /** apply.sh's own lines ("apply: …"). */
  applyOutput: string[];
  /** True when deploy itself reloaded Postfix (apply.sh reloads on its own when it changed something). */
  reloaded: boolean;
  error: string | null;
}

export function emptyResult(host: Host, state: DeployState, error: string | null = null): HostDeploy {
  return {
    fqdn: host.fqdn,
    role: host.role,
    target: `${host.ssh.user}@${host.ssh.host}:${host.ssh.port}`,
    state,
    files: [],
    applyChanges: null,
    applyOutput: [],
    reloaded: false,
    error,
  };
}

/** Deploys one host; throws RunError (with the host named) when a step fails. */
export async function deployHost(s: Settings, host: Host, cmds: HostCommands, onProgress: (line: string) => void): Promise<HostDeploy> {
  const dir = s.projectDir;
  const result = emptyResult(host, 'unchanged');

  onProgress(`+ ${cmds.rsync.display}`);
  const rs = await runRemote(dir, `deploy-rsync:${host.fqdn}`, cmds.rsync);
  if (rs.exitCode !== 0) {
    throw unreachable(host, rs) ?? new RunError(`${host.fqdn}: rsync failed (exit ${rs.exitCode}): ${reasonOf(rs.stderr)}`, rs.stderr);
  }
  result.files = parseItemized(rs.stdoutText);

  onProgress(`+ ${cmds.apply.display}`);
  const ap = await runRemote(dir, `deploy-apply:${host.fqdn}`, cmds.apply);
  result.applyOutput = ap.stdoutText.split('\n').filter((l) => l.startsWith('apply: '));
  if (ap.exitCode !== 0) {
    throw unreachable(host, ap) ?? new RunError(`${host.fqdn}: apply script failed (exit ${ap.exitCode}): ${reasonOf(ap.stderr)}`, ap.stderr);
  }
  const changes = parseApplyResult(ap.stdoutText, host.fqdn);
  if (changes === undefined) {
    throw new RunError(`${host.fqdn}: the apply script printed no result line ("apply: ${host.fqdn}: …"); run ${cmds.apply.display} to see why`);
  }
  result.applyChanges = changes;

  // Postfix reads certificates, keys and texthash tables when a process starts: after rsync replaced
  // one, running processes must be restarted even if apply.sh found every setting already right.
  const applyScript = remoteFiles(s, host).applyScript;
  const replaced = result.files.some((f) => /^[<>]f/.test(f.change) && f.path !== applyScript);
  if (replaced && changes === 0) {
    onProgress(`+ ${cmds.reload.display}`);
    const rl = await runRemote(dir, `deploy-reload:${host.fqdn}`, cmds.reload);
    if (rl.exitCode !== 0) {
      throw unreachable(host, rl) ?? new RunError(`${host.fqdn}: postfix reload failed (exit ${rl.exitCode}): ${reasonOf(rl.stderr)}`, rl.stderr);
    }
    result.reloaded = !/is not running/.test(rl.stdoutText);
  }
  result.state = result.files.length === 0 && changes === 0 ? 'unchanged' : 'updated';
  return result;
}

/**
 * `deploy client` alone: the relay must already list each client's entry, or the client would start
 * presenting a certificate the relay rejects (554, mail bounces). Reads the relay's allowlist over ssh.
 */
export function relayAllowlistProbe(s: Settings, sshOptions: readonly string[]): { script: ProbeScript; cmd: Command } {
  const script = new ProbeScript().add('allowlist', ['cat', '--', s.server.relayClientcertsPath]);
  return { script, cmd: sshCmd.ssh(s.server.ssh, sshOptions, script.text()) };
}

/** `localAllowlist`: the allowlist as built (etc/postfix/relay_clientcerts). */
export async function assertRelayTrusts(s: Settings, clients: readonly Host[], sshOptions: readonly string[], localAllowlist: string): Promise<void> {
  const local = parseAllowlist(localAllowlist).map((e) => e.line);
  const { script, cmd } = relayAllowlistProbe(s, sshOptions);
  const r = await runRemote(s.projectDir, `deploy-relay-allowlist:${s.server.fqdn}`, cmd);
  const down = unreachable(s.server, r);
  if (down) throw new RunError(`cannot read the relay's allowlist before deploying clients: ${down.message}`);
  const section = script.parse(r.stdoutText).get('allowlist');
  if (!section || section.exit !== 0) {
    throw new RunError(`the relay ${s.server.fqdn} has no readable ${s.server.relayClientcertsPath} (${(section?.out ?? reasonOf(r.stderr)).trim()}); deploy it first: postfix-tls-relay deploy server`);
  }
  const remote = new Set(parseAllowlist(section.out).map((e) => e.line));
  const missing = clients.filter((c) => !local.some((l) => l.endsWith(` ${c.fqdn}`) && remote.has(l)));
  if (missing.length) {
    throw new RunError(`the relay ${s.server.fqdn} does not list ${missing.map((c) => c.fqdn).join(', ')} as built in ${ALLOWLIST}; deploy the relay first (postfix-tls-relay deploy server, or deploy all)`);
  }
}
