// Deploying one host: send its bundle files with rsync, run its apply script over ssh, and reload
// Postfix when rsync replaced a file Postfix reads but the script had nothing else to change.
import * as sshCmd from '../programs/ssh.js';
import type { Command } from '../programs/command.js';
import { RunError } from '../errors.js';
import { remoteFiles } from '../files/layout.js';
import { type HostCommands, HOST_PACKAGES } from './host-commands.js';
import { sudoFailure } from './sudo.js';
import { parseSurvey } from './survey.js';
import { parseAllowlist } from '../postfix/allowlist.js';
import { ProbeScript } from './probe.js';
import { reasonOf, runRemote, unreachable, type RemoteResult } from './run.js';
import type { Host, Server, Settings } from '../settings/index.js';

export { bundleFiles, bundleRoot } from './bundle-files.js';

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
  /** How long the host took, in milliseconds (0 when it did not run). */
  ms: number;
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
    ms: 0,
  };
}

/** The sudo password (with --ask-sudo-pass) as sudo -S reads it: one line on stdin per root command; nothing otherwise. */
function sudoInput(cmds: HostCommands, password: Buffer | undefined, calls = 1): Buffer | undefined {
  return cmds.sudoStdin && password ? Buffer.concat(Array.from({ length: calls }, () => Buffer.concat([password, Buffer.from('\n')]))) : undefined;
}

/** Deploys one host; throws RunError (with the host named) when a step fails. */
export async function deployHost(s: Settings, host: Host, cmds: HostCommands, onProgress: (line: string) => void, sudoPassword?: Buffer): Promise<HostDeploy> {
  const dir = s.projectDir;
  const result = emptyResult(host, 'unchanged');

  const input = sudoInput(cmds, sudoPassword);
  const failed = (what: string, r: RemoteResult) =>
    unreachable(host, r) ?? new RunError(sudoFailure(host, r.stderr, cmds.sudoers) ?? `${host.fqdn}: ${what} failed (exit ${r.exitCode}): ${reasonOf(r.stderr)}`, r.stderr);

  // One remote shell first: prerequisites, every file compared, and apply.sh when none differs.
  onProgress(`+ ${cmds.survey.display}`);
  const sv = await runRemote(dir, `deploy-survey:${host.fqdn}`, cmds.survey, sudoInput(cmds, sudoPassword, cmds.surveyRootCalls));
  const down = unreachable(host, sv);
  if (down) throw down;
  const found = parseSurvey(sv.stdoutText);
  if (found.missing.length) {
    const names = found.missing.map((p) => `${p} (Debian package ${HOST_PACKAGES[p] ?? p})`).join(', ');
    throw new RunError(`${host.fqdn}: ${host.ssh.user}@${host.ssh.host} has no ${names}; install it there first (apt-get install ${[...new Set(found.missing.map((p) => HOST_PACKAGES[p] ?? p))].join(' ')}), nothing was sent`);
  }
  if (found.sudoRefused !== null) {
    const said = found.sudoRefused;
    throw new RunError(sudoFailure(host, said, cmds.sudoers) ?? `${host.fqdn}: sudo as ${host.ssh.user}@${host.ssh.host} does not allow what deploy runs (${said || 'sudo -l refused'}); add to /etc/sudoers.d/postfix-tls-relay there: ${cmds.sudoers.join(' ; ')}`);
  }
  const applied = (ap: RemoteResult) => {
    result.applyOutput = ap.stdoutText.split('\n').filter((l) => l.startsWith('apply: '));
    if (ap.exitCode !== 0) throw failed('apply script', ap);
    const changes = parseApplyResult(ap.stdoutText, host.fqdn);
    if (changes === undefined) {
      throw new RunError(`${host.fqdn}: the apply script printed no result line ("apply: ${host.fqdn}: …"); run ${cmds.apply.display} to see why`);
    }
    return (result.applyChanges = changes);
  };
  if (found.applied) {
    // Every file is what rsync would install: nothing to send, nothing replaced, no reload of ours.
    result.state = applied(sv) === 0 ? 'unchanged' : 'updated';
    return result;
  }

  if (cmds.stage) {
    onProgress(`+ ${cmds.stage.display}`);
    const st = await runRemote(dir, `deploy-stage:${host.fqdn}`, cmds.stage);
    if (st.exitCode !== 0) throw failed('rsync to the stage directory', st);
  }
  onProgress(`+ ${cmds.rsync.display}`);
  const rs = await runRemote(dir, `deploy-rsync:${host.fqdn}`, cmds.rsync, input);
  if (rs.exitCode !== 0) throw failed('rsync', rs);
  result.files = parseItemized(rs.stdoutText);

  onProgress(`+ ${cmds.apply.display}`);
  const changes = applied(await runRemote(dir, `deploy-apply:${host.fqdn}`, cmds.apply, input));

  // Postfix reads certificates, keys and texthash tables when a process starts: after rsync replaced
  // one, running processes must be restarted even if apply.sh found every setting already right.
  const applyScript = remoteFiles(s, host).applyScript;
  const replaced = result.files.some((f) => /^[<>]f/.test(f.change) && f.path !== applyScript);
  if (replaced && changes === 0) {
    onProgress(`+ ${cmds.reload.display}`);
    const rl = await runRemote(dir, `deploy-reload:${host.fqdn}`, cmds.reload, cmds.sudoStdin && input ? Buffer.concat([input, input]) : input);
    if (rl.exitCode !== 0) throw failed('postfix reload', rl);
    result.reloaded = !/is not running/.test(rl.stdoutText);
  }
  result.state = result.files.length === 0 && changes === 0 ? 'unchanged' : 'updated';
  return result;
}

/**
 * A relay's allowlist as it is on the relay, read over ssh: before a client is deployed without that relay
 * in the run (deploy client), it must already list the client's entry, or the client would start
 * presenting a certificate that relay rejects (554, mail bounces).
 */
export function relayAllowlistProbe(relay: Server, sshOptions: readonly string[]): { script: ProbeScript; cmd: Command } {
  const script = new ProbeScript().add('allowlist', ['cat', '--', relay.relayClientcertsPath]);
  return { script, cmd: sshCmd.ssh(relay.ssh, sshOptions, script.text()) };
}

/**
 * The clients whose entry, as built (`localAllowlist`, etc/postfix/relay_clientcerts), `relay` does not
 * list; throws RunError when its allowlist cannot be read.
 */
export async function clientsMissingOn(s: Settings, relay: Server, clients: readonly Host[], sshOptions: readonly string[], localAllowlist: string): Promise<Host[]> {
  const local = parseAllowlist(localAllowlist).map((e) => e.line);
  const { script, cmd } = relayAllowlistProbe(relay, sshOptions);
  const r = await runRemote(s.projectDir, `deploy-relay-allowlist:${relay.fqdn}`, cmd);
  const down = unreachable(relay, r);
  if (down) throw new RunError(`cannot read the allowlist of the relay ${relay.fqdn} before deploying clients: ${down.message}`);
  const section = script.parse(r.stdoutText).get('allowlist');
  if (!section || section.exit !== 0) {
    throw new RunError(`the relay ${relay.fqdn} has no readable ${relay.relayClientcertsPath} (${(section?.out ?? reasonOf(r.stderr)).trim()}); deploy it first: postfix-tls-relay deploy server`);
  }
  const remote = new Set(parseAllowlist(section.out).map((e) => e.line));
  return clients.filter((c) => !local.some((l) => l.endsWith(` ${c.fqdn}`) && remote.has(l)));
}
