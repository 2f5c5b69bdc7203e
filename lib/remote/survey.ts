// A host's first step in a deploy, one remote shell: the prerequisite check (programs, and with sudo -n
// whether sudoers allows the install and apply lines), then every bundle file compared with what
// rsync would install (a regular file, its mode, owned by root, its sha256), and when nothing differs
// apply.sh itself. A host with nothing to change costs this one command; when a file differs, nothing
// else runs and deploy goes on with rsync (whose --checksum rule decides what is sent), apply.sh and
// the reload, as before. Only reads, except apply.sh (which deploy runs on every host anyway).
import type { Command } from '../programs/command.js';
import * as sshCmd from '../programs/ssh.js';
import { shJoin } from '../programs/shell.js';
import { bundleManifest } from '../plan/bundle.js';
import type { Host, Settings } from '../settings/index.js';
import { asRoot, usesSudo, type SudoMode } from './sudo.js';

/** The sha256 (hex) a bundle file (by its path under out/) had when the build recorded it; undefined: unknown. */
export type Digests = (local: string) => string | undefined;

export interface SurveyResult {
  /** Programs the host lacks. */
  missing: string[];
  /** sudo's refusal (its first line) when sudoers does not allow a line deploy runs; null when it does. */
  sudoRefused: string | null;
  /** Whether a file differs from the bundle (or cannot be read): rsync must run. */
  differs: boolean;
  /** True when the shell went on to run apply.sh (nothing missing, refused or different). */
  applied: boolean;
}

export interface Survey {
  cmd: Command;
  /** How many root commands read sudo -S's password (one line each on stdin). */
  rootCalls: number;
}

/**
 * The remote shell, as one ssh command. `prerequisites`: the loop and sudo checks of HostCommands;
 * `apply`: apply.sh's argv as root (sudo … sh PATH).
 */
export function surveyCommand(s: Settings, host: Host, sshOptions: readonly string[], mode: SudoMode, digests: Digests | undefined, parts: { path: string; programs: string[]; sudoChecks: string[][]; apply: string[] }): Survey {
  const root = (argv: string[]) => asRoot(host, argv, mode);
  const files = bundleManifest(s, host).files;
  const known = files.every((f) => digests?.(f.local));
  // Two programs for all the files (a third, through sudo, for the key of a non-root ssh user), each
  // output compared with what it prints for the bundle's files: stat's mode, owner and file type (a
  // symbolic link is not a regular file), sha256sum's digests.
  const asUser = files.filter((f) => !(f.kind === 'key' && usesSudo(host)));
  const viaSudo = files.filter((f) => f.kind === 'key' && usesSudo(host));
  const sums = (list: typeof files) => list.flatMap((f) => [digests?.(f.local) ?? '', f.remote]);
  // Compared word by word on one line (set -f: no globbing): x=$(CMD) fails when CMD does (a missing file).
  const same = (argv: string[], words: string[]) => `x=$(${shJoin(argv)} 2>/dev/null) && set -- $x && [ "$*" = ${shJoin([words.join(' ')])} ]`;
  const checks = [
    same(['stat', '-c', '%a %u:%g %F %n', '--', ...files.map((f) => f.remote)], files.flatMap((f) => [f.mode.toString(8), '0:0', 'regular', 'file', f.remote])),
    same(['sha256sum', '--', ...asUser.map((f) => f.remote)], sums(asUser)),
    ...(viaSudo.length ? [same(root(['sha256sum', '--', ...viaSudo.map((f) => f.remote)]), sums(viaSudo))] : []),
  ];
  const rootCalls = 1 + viaSudo.length;
  const script = [
    parts.path,
    `m=; for p in ${parts.programs.join(' ')}; do command -v "$p" >/dev/null 2>&1 || { echo "missing $p"; m=1; }; done; [ -z "$m" ] || exit 0`,
    // `sudo -l CMD` says whether sudoers allows CMD, without running it (and with -n, without a password).
    ...parts.sudoChecks.map((a) => `sudo -n -l -- ${shJoin(a)} >/dev/null 2>&1 || { echo sudo-refused; sudo -n -l -- ${shJoin(a)} 2>&1 | head -n 1; exit 0; }`),
    // Without the build's digests every file counts as different.
    known ? `set -f; { ${checks.join(' && ')}; } || { echo differs; exit 0; }` : 'echo differs; exit 0',
    shJoin(root(parts.apply)),
  ].join('; ');
  return { cmd: sshCmd.ssh(host.ssh, sshOptions, script), rootCalls };
}

/** The survey's lines: "missing P", "sudo-refused" and sudo's line, "differs", else apply.sh's own output. */
export function parseSurvey(stdout: string): SurveyResult {
  const lines = stdout.split('\n');
  const missing = lines.filter((l) => l.startsWith('missing ')).map((l) => l.slice(8).trim());
  const refused = lines.indexOf('sudo-refused');
  const differs = lines.includes('differs');
  const sudoRefused = refused >= 0 ? (lines[refused + 1] ?? '').trim() : null;
  return { missing, sudoRefused, differs, applied: missing.length === 0 && sudoRefused === null && !differs };
}
