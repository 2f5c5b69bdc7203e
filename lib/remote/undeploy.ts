// Undeploying one host: a read-only probe (is there an apply script that can undeploy, and its record?), then
// `apply.sh --undeploy` as root, then the same probe again to confirm that main.cf and master.cf hold what the
// record says and the tool's files are gone. Nothing runs as root when the record is missing or damaged.
import * as sshCmd from '../programs/ssh.js';
import { RunError } from '../errors.js';
import { remoteFiles } from '../files/layout.js';
import { undeployFiles } from '../plan/bundle.js';
import type { HostCommands } from './host-commands.js';
import { parsePostconf, ProbeScript, type Probe } from './probe.js';
import { reasonOf, runRemote, unreachable } from './run.js';
import { sudoFailure } from './sudo.js';
import { parseUndoRecord, type UndoRecord } from './undo-record.js';
import type { Host, Settings } from '../settings/index.js';

export type UndeployState = 'undeployed' | 'nothing-to-do' | 'failed';

export interface HostUndeploy {
  fqdn: string;
  role: Host['role'];
  state: UndeployState;
  /** apply.sh's own lines ("apply: …"). */
  output: string[];
  /** Changes apply.sh --undeploy made. */
  changes: number;
  /** What the confirming probe found different from the record (empty: confirmed). */
  leftovers: string[];
  error: string | null;
}

/** The read-only probe (as the ssh user): the script, the record, the settings and files the record covers. */
export function undeployProbe(s: Settings, host: Host): ProbeScript {
  const r = remoteFiles(s, host);
  const p = new ProbeScript()
    .add('script', ['grep', '-c', '--', '--undeploy', r.applyScript])
    .add('record', ['cat', '--', r.undoRecord])
    .postconf('main', host.postfixDir, ['-n'])
    .postconf('master', host.postfixDir, ['-M']);
  undeployFiles(s, host).forEach((f, i) => p.add(`file.${i}`, ['ls', '-d', '--', f.path]));
  return p;
}

/** What is not as the record says, and which files are still there. */
export function leftovers(s: Settings, host: Host, record: UndoRecord, probe: Probe): string[] {
  const main = parsePostconf(probe.get('main')?.out ?? '');
  const out: string[] = [];
  for (const [name, line] of record.main) {
    const have = main.has(name) ? `${name} = ${main.get(name)}`.replace(/ = $/, ' =') : null;
    if (have !== line) out.push(`main.cf ${name}: ${have ?? '(not set)'}, recorded ${line ?? '(not set)'}`);
  }
  const entries = (probe.get('master')?.out ?? '').split('\n');
  for (const [svc, line] of record.master) {
    const [name, type] = svc.split('/');
    const have = entries.find((l) => { const f = l.split(/\s+/); return f[0] === name && f[1] === type; }) ?? null;
    if (have !== line) out.push(`master.cf ${svc}: ${have ?? '(none)'}, recorded ${line ?? '(none)'}`);
  }
  undeployFiles(s, host).forEach((f, i) => { if (probe.get(`file.${i}`)?.exit === 0) out.push(`${f.path} still there`); });
  return out;
}

/** The last line of apply.sh --undeploy: "apply: <fqdn>: undeployed, N change(s)". */
export function parseUndeployResult(stdout: string, fqdn: string): number | undefined {
  const m = /^apply: (\S+): undeployed, (\d+) change\(s\)$/.exec(stdout.trimEnd().split('\n').at(-1) ?? '');
  return m && m[1] === fqdn ? Number(m[2]) : undefined;
}

/**
 * Undeploys one host; throws RunError (one line naming the host) when it cannot or must not. `undeployed`:
 * this project's last look at the host was an undeploy (a clean host then has nothing to do; otherwise it was
 * never deployed, or its files were removed by hand).
 */
export async function undeployHost(s: Settings, host: Host, cmds: HostCommands, options: readonly string[], undeployed: boolean, onProgress: (line: string) => void, input?: Buffer): Promise<HostUndeploy> {
  const r = remoteFiles(s, host);
  const result: HostUndeploy = { fqdn: host.fqdn, role: host.role, state: 'nothing-to-do', output: [], changes: 0, leftovers: [], error: null };
  const look = async (step: string): Promise<Probe> => {
    const script = undeployProbe(s, host);
    const cmd = sshCmd.ssh(host.ssh, options, script.text());
    onProgress(`+ ${cmd.display}`);
    const res = await runRemote(s.projectDir, `${step}:${host.fqdn}`, cmd);
    const down = unreachable(host, res);
    if (down) throw down;
    const probe = script.parse(res.stdoutText);
    if (probe.size === 0) throw new RunError(`${host.fqdn}: the read-only probe failed (exit ${res.exitCode}): ${reasonOf(res.stderr)}`);
    return probe;
  };
  const before = await look('undeploy-probe');
  const script = before.get('script')!;
  const recordText = before.get('record')!;
  const hasScript = script.exit === 0 || script.exit === 1;
  if (!hasScript && recordText.exit !== 0) {
    if (undeployed) return result;
    throw new RunError(`${host.fqdn}: not deployed (no ${r.applyScript}, no ${r.undoRecord} there); nothing to undo`);
  }
  if (script.exit === 1) throw new RunError(`${host.fqdn}: ${r.applyScript} was installed by an older postfix-tls-relay and cannot undeploy; nothing changed; deploy it with this version first (postfix-tls-relay deploy ${host.role === 'client' ? 'client' : 'server'} ${host.fqdn})`);
  if (recordText.exit !== 0) throw new RunError(`${host.fqdn}: no record of what the host had before postfix-tls-relay (${r.undoRecord}: ${recordText.out.trim().split('\n')[0] || 'missing'}); nothing changed; undo by hand (postfix-tls-relay instructions)`);
  const record = parseUndoRecord(recordText.out);
  if ('error' in record) throw new RunError(`${host.fqdn}: ${r.undoRecord} ${record.error}; nothing changed; undo by hand (postfix-tls-relay instructions)`);
  if (!hasScript) throw new RunError(`${host.fqdn}: ${r.applyScript} is missing although ${r.undoRecord} is there; nothing changed; deploy it again, then undeploy`);

  onProgress(`+ ${cmds.undeploy.display}`);
  const run = await runRemote(s.projectDir, `undeploy:${host.fqdn}`, cmds.undeploy, input);
  result.output = run.stdoutText.split('\n').filter((l) => l.startsWith('apply: '));
  if (run.exitCode !== 0) {
    throw unreachable(host, run) ?? new RunError(sudoFailure(host, run.stderr, cmds.sudoers) ?? `${host.fqdn}: apply.sh --undeploy failed (exit ${run.exitCode}): ${reasonOf(run.stderr)}`, run.stderr);
  }
  const changes = parseUndeployResult(run.stdoutText, host.fqdn);
  if (changes === undefined) throw new RunError(`${host.fqdn}: apply.sh --undeploy printed no result line; run ${cmds.undeploy.display} to see why`);
  result.changes = changes;
  result.leftovers = leftovers(s, host, record, await look('undeploy-confirm'));
  result.state = result.leftovers.length ? 'failed' : 'undeployed';
  if (result.leftovers.length) result.error = `not as recorded after undeploy: ${result.leftovers.join('; ')}`;
  return result;
}
