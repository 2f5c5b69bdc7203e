// Running on a host as root when its *_ssh_user is not root: through sudo, one fixed command line per
// job, so that the sudoers lines `instructions` prints allow exactly what deploy and check run and
// nothing else. `sudo -n` never waits for a password; with --ask-sudo-pass it is `sudo -S -p ''` and
// the password goes to sudo's stdin (never argv, the environment, a log or a file).
import type { Host } from '../settings/index.js';

/** Where the bundle is staged, relative to the ssh user's login directory (his own, mode 0700). */
export const STAGE_DIR = '.postfix-tls-relay/stage';

export function usesSudo(host: Host): boolean {
  return host.ssh.user !== 'root';
}

/** How sudo gets its answer: `-n` (NOPASSWD sudoers) or `-S` (a password on stdin). */
export type SudoMode = 'nopasswd' | 'stdin';

/** argv as root on `host`: unchanged for root, `sudo -n -- …` (or `sudo -S -p '' -- …`) otherwise. */
export function asRoot(host: Host, argv: readonly string[], mode: SudoMode = 'nopasswd'): string[] {
  if (!usesSudo(host)) return [...argv];
  return mode === 'stdin' ? ['sudo', '-S', '-p', '', '--', ...argv] : ['sudo', '-n', '--', ...argv];
}

/** Where Debian has the programs run through sudo; sudoers wants absolute paths. */
const PROGRAM_PATH: Record<string, string> = {
  rsync: '/usr/bin/rsync', sh: '/bin/sh', postfix: '/usr/sbin/postfix', sha256sum: '/usr/bin/sha256sum',
  openssl: '/usr/bin/openssl', env: '/usr/bin/env',
};

/** sudoers(5) treats `\ , : =` and the wildcards `[ ] * ?` in command arguments specially: they are escaped with a backslash. */
const sudoersArg = (a: string) => a.replace(/[\\,:=[\]*?]/g, (c) => `\\${c}`);

/** The sudoers line that allows exactly `argv` (as given to asRoot) for `host`'s ssh user. */
export function sudoersLine(host: Host, argv: readonly string[]): string {
  const [prog, ...args] = argv as [string, ...string[]];
  return `${host.ssh.user} ALL=(root) NOPASSWD: ${PROGRAM_PATH[prog] ?? prog}${args.length ? ` ${args.map(sudoersArg).join(' ')}` : ''}`;
}

/** What sudo said, as one line of advice naming the host, the user and what sudoers needs. */
export function sudoFailure(host: Host, stderr: string, lines: readonly string[]): string | undefined {
  const who = `${host.fqdn}: sudo as ${host.ssh.user}@${host.ssh.host}`;
  const fix = `add to /etc/sudoers.d/postfix-tls-relay there (postfix-tls-relay instructions shows them): ${lines.join(' ; ')}`;
  if (/sudo: (a password is required|a terminal is required)/.test(stderr)) return `${who} wants a password; run with --ask-sudo-pass (-K), or ${fix}`;
  if (/sudo: \d+ incorrect password attempt|Sorry, try again/.test(stderr)) return `${who}: the sudo password was not accepted; run again with --ask-sudo-pass (-K)`;
  if (/is not allowed to execute|is not in the sudoers file|may not run sudo/.test(stderr)) return `${who} is not allowed to run what deploy needs; ${fix}`;
  if (/sudo: (command )?not found|sudo: not found/.test(stderr)) return `${host.fqdn}: sudo is not installed on ${host.ssh.host} (Debian package sudo), needed for ${host.ssh.user}; install it and ${fix}`;
  return undefined;
}
