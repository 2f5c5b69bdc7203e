// Runs the ssh and rsync commands of `deploy` and `check`: each one is audited, and a failure to
// reach the host becomes one line naming the host, the settings to look at and ssh's own reason.
// A command built by programs/ssh.ts rides the run's one connection to its host (connections.ts):
// the audit line shows it as it ran, with the connection's options.
import { appendAudit } from '../files/audit.js';
import type { Command } from '../programs/command.js';
import { RunError } from '../errors.js';
import { run, type ExecResult } from '../programs/exec.js';
import type { Host, SshTarget } from '../settings/index.js';
import { connections } from './connections.js';

export interface RemoteResult extends ExecResult {
  stdoutText: string;
}

/** Runs `cmd` in the project directory and records it in audit.log, whatever its outcome. */
export async function runRemote(projectDir: string, step: string, command: Command, input?: Buffer): Promise<RemoteResult> {
  const route = command.via ? await connections.route(projectDir, command.via) : { direct: true as const };
  const cmd = 'first' in route ? command.via!.withOptions(route.first) : command;
  const start = new Date().toISOString();
  const t0 = performance.now();
  let exit = -1;
  try {
    // The host's connection could not be made: this command would fail the same way.
    if ('unreachable' in route) {
      exit = route.unreachable.exitCode;
      return { ...route.unreachable, stdoutText: '' };
    }
    const r = await run(cmd.argv, { cwd: projectDir, input });
    exit = r.exitCode;
    return { ...r, stdoutText: r.stdout.toString('utf8') };
  } finally {
    appendAudit(projectDir, { start, step, command: cmd.display, durationMs: performance.now() - t0, exit });
  }
}

/**
 * Opens the connection `command` will ride, ahead of its first use: only the login happens on the host.
 * A failure is kept for that first use, which reports it.
 */
export function connectAhead(projectDir: string, command: Command): void {
  if (command.via) connections.route(projectDir, command.via).catch(() => undefined);
}

/** Ends the run's connections (`ssh -O exit` each) and removes their sockets' directory. */
export function closeConnections(projectDir: string): Promise<void> {
  return connections.close(projectDir);
}

/** Starts closing the run's connection to a host that is done (closeConnections waits for it). */
export function releaseConnection(projectDir: string, target: SshTarget): void {
  connections.release(projectDir, target);
}

/** The settings that say how `host` is reached, for error messages. */
export function sshSettingNames(host: Host): string {
  const prefix = host.role === 'server' ? 'smtpd_server' : 'smtp_client';
  return `${prefix}_ssh_user, ${prefix}_ssh_host, ${prefix}_ssh_port, ssh_options`;
}

/** The line of ssh's (or rsync's) stderr that says why, e.g. "ssh: connect to host … Connection refused". */
export function reasonOf(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Warning: Permanently added/.test(l));
  const ssh = lines.find((l) => /^ssh: |Host key verification failed|Permission denied|REMOTE HOST IDENTIFICATION HAS CHANGED|Connection (refused|timed out|closed)|Could not resolve/.test(l));
  // rsync's own last line ("error in rsync protocol data stream (code 12)") hides the cause printed before it.
  const cause = lines.find((l) => /command not found|: not found$|No such file or directory/.test(l));
  return ssh ?? cause ?? lines.at(-1) ?? 'no error message';
}

/** ssh exits 255 for its own failures (connection, host key, authentication); rsync reports them as 255 or 12. */
export function unreachable(host: Host, r: ExecResult): RunError | undefined {
  const reason = reasonOf(r.stderr);
  const sshFailed = r.exitCode === 255 || (r.exitCode === 12 && /^ssh: |Host key verification failed|Permission denied/m.test(r.stderr));
  if (!sshFailed) return undefined;
  return new RunError(
    `${host.fqdn}: cannot reach ${host.ssh.user}@${host.ssh.host} port ${host.ssh.port}: ${reason}; check ${sshSettingNames(host)} (or --ssh-option)`,
    r.stderr,
  );
}
