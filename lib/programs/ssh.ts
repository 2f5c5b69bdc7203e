// Typed builders for the ssh and rsync calls of `deploy` and `check`. Each returns argv plus its exact shell text.
// Host keys are checked by the user's own ssh configuration: nothing here weakens it.
import type { SshTarget } from '../settings/index.js';
import { shJoin } from './shell.js';
import type { Command } from './command.js';

function command(argv: string[]): Command {
  return { argv, passphraseOnStdin: false, display: shJoin(argv) };
}

/** A command that reaches `t`, remade by `make` with other ssh options when a run shares its connection. */
function remote(t: SshTarget, options: readonly string[], make: (options: readonly string[]) => string[]): Command {
  return { ...command(make(options)), via: { target: t, options, withOptions: (first) => remote(t, [...first, ...options], make) } };
}

/** `user@host` for ssh. */
export function sshDestination(t: SshTarget): string {
  return `${t.user}@${t.host}`;
}

/** `user@host:/` for rsync; an IPv6 address needs brackets there. */
export function rsyncDestination(t: SshTarget, dir = '/'): string {
  return `${t.user}@${t.host.includes(':') ? `[${t.host}]` : t.host}:${dir}`;
}

/**
 * `-p PORT -o KEY=VALUE …`. ssh keeps the FIRST value it gets for an option, so callers pass the
 * command line's --ssh-option values before the settings' ssh_options: the command line wins.
 */
export function sshArgs(t: SshTarget, options: readonly string[]): string[] {
  return ['-p', String(t.port), ...options.flatMap((o) => ['-o', o])];
}

/** `ssh … user@host 'REMOTE'`: the remote command is one string, already shell-quoted for the remote shell. */
export function ssh(t: SshTarget, options: readonly string[], remoteCommand: string): Command {
  return remote(t, options, (o) => ['ssh', ...sshArgs(t, o), sshDestination(t), remoteCommand]);
}

/**
 * Copies the listed files of a bundle tree to the same absolute paths on the host.
 *
 * Flags, and why:
 * - Sources are `ROOT/./etc/…` with --relative: only the listed files are sent (never a stray file of
 *   out/, never the CA key), each at the path after `/./`.
 * - --no-implied-dirs: the parent directories (/etc, /etc/postfix, …) are not part of the transfer, so
 *   their modes, owners and times on the host are never touched; a missing one is created with default
 *   attributes (apply.sh then sets 0755 on the directories it owns).
 * - --perms --owner --group --chown=root:root: files keep the bundle's modes (keys 0600) and belong to
 *   root (--chown needs -o/-g, and root on the far side).
 * - --chmod=a-st,go-w: whatever happened to a file's mode in out/, no setuid, setgid or sticky bit and
 *   nothing group- or world-writable arrives on the host as root's (deploy refuses a key wider than 0600).
 * - --checksum: compare contents, not size+time, so an unchanged file is never sent.
 * - No --times: a file that is sent gets the time of the transfer. That keeps "the allowlist is newer
 *   than its .db" true after a redeploy, so apply.sh's postmap runs; unchanged files keep their times.
 * - --itemize-changes: one line per changed file, so the caller can say "unchanged" and reload only
 *   when something Postfix reads was replaced. rsync writes each file to a temp name and renames it.
 */
export function rsyncFiles(opts: { root: string; files: readonly string[]; target: SshTarget; options: readonly string[] }): Command {
  const from = sources(opts.root, opts.files);
  return remote(opts.target, opts.options, (o) => ['rsync', ...INSTALL_FLAGS, '-e', rsh(opts.target, o), ...from, rsyncDestination(opts.target)]);
}

const INSTALL_FLAGS = ['--relative', '--no-implied-dirs', '--perms', '--chmod=a-st,go-w', '--owner', '--group', '--chown=root:root', '--checksum', '--itemize-changes'];

// rsync splits -e itself on spaces (options are validated: no spaces or quotes in them).
const rsh = (t: SshTarget, options: readonly string[]) => ['ssh', ...sshArgs(t, options)].join(' ');

function sources(root: string, files: readonly string[]): string[] {
  if (files.length === 0) throw new Error('rsync: no files to send');
  const r = root.replace(/\/+$/, '');
  return files.map((f) => `${r}/./${f.replace(/^\/+/, '')}`);
}

/**
 * A non-root ssh user's first step: the same files into `stageDir` under his login directory, as
 * his own (no --owner/--group/--chown, which need root there); --mkpath creates the stage.
 */
export function rsyncStage(opts: { root: string; files: readonly string[]; target: SshTarget; options: readonly string[]; stageDir: string }): Command {
  const from = sources(opts.root, opts.files);
  return remote(opts.target, opts.options, (o) => ['rsync', '--relative', '--no-implied-dirs', '--perms', '--chmod=a-st,go-w', '--checksum', '--mkpath', '-e', rsh(opts.target, o),
    ...from, rsyncDestination(opts.target, `${opts.stageDir}/`)]);
}

/**
 * Its second step, run as root on the host (through sudo): from the stage to the real paths with the
 * flags of rsyncFiles, then the staged copies are removed (--remove-source-files), so the keys end up
 * only where root owns them. Relative source paths: sudo runs it in the login directory.
 */
export function rsyncFromStageArgv(stageDir: string, files: readonly string[]): string[] {
  return ['rsync', ...INSTALL_FLAGS, '--remove-source-files', ...sources(stageDir, files), '/'];
}

/**
 * One run's connection to a host, shared by every ssh and rsync command of that host (OpenSSH
 * connection sharing). It runs in the foreground of this process (ControlPersist=no, so it never
 * forks itself into the background): its only remote command, `cat`, reads the input this process
 * holds open, so the connection ends when the run ends, even a killed one. `-T`: no terminal.
 */
export function controlMaster(t: SshTarget, options: readonly string[], controlPath: string): Command {
  return command(['ssh', '-T', ...sshArgs(t, [...masterOptions(controlPath), ...options]), sshDestination(t), 'exec cat >/dev/null']);
}

export function masterOptions(controlPath: string): string[] {
  return ['ControlMaster=yes', 'ControlPersist=no', `ControlPath=${controlPath}`];
}

/** What each command of the host gets first: use that socket, never become a master itself. */
export function sharedOptions(controlPath: string): string[] {
  return ['ControlMaster=no', `ControlPath=${controlPath}`];
}

/** Asks the master to close the connection and exit. */
export function controlExit(t: SshTarget, controlPath: string): Command {
  return command(['ssh', '-o', `ControlPath=${controlPath}`, '-O', 'exit', sshDestination(t)]);
}

/** Options by which the user manages connection sharing himself (ssh_options / --ssh-option): the run then adds none. */
export function userSharesConnections(options: readonly string[]): boolean {
  return options.some((o) => /^Control(Master|Path|Persist)=/i.test(o));
}
