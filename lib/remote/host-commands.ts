// The exact remote commands of `deploy` for one host. As root: rsync straight to the real paths, then
// apply.sh. As another ssh user: rsync into his own stage directory, then as root through sudo the
// same rsync from the stage to the real paths, apply.sh and reload: fixed command lines that the
// sudoers lines (sudoersLines) allow one by one.
import * as sshCmd from '../programs/ssh.js';
import type { Command } from '../programs/command.js';
import { remoteFiles } from '../files/layout.js';
import type { Host, Settings } from '../settings/index.js';
import { shJoin } from '../programs/shell.js';
import { bundleManifest, bundleTargets } from '../plan/bundle.js';
import { checkRootJobs } from './compare.js';
import { surveyCommand, type Digests } from './survey.js';
import { asRoot, STAGE_DIR, sudoersLine, usesSudo, type SudoMode } from './sudo.js';

export interface HostCommands {
  /**
   * What deploy runs first: the prerequisite check, each file compared with the bundle and, when none
   * differs, apply.sh, in one remote shell (survey.ts). The commands below run only when a file differs.
   */
  survey: Command;
  /** How many lines of sudo -S's password the survey reads (with --ask-sudo-pass). */
  surveyRootCalls: number;
  /** Checks the host has rsync, postconf, postfix, sh (and sudo allows the commands) before anything is sent. */
  prerequisites: Command;
  /** Only for a non-root ssh user: the bundle's files into his stage directory. */
  stage: Command | null;
  /** Files to their real paths, owned by root: rsync over ssh as root, or from the stage through sudo. */
  rsync: Command;
  apply: Command;
  /** `apply.sh --undeploy`: the host as it was before the first deploy (undeploy). */
  undeploy: Command;
  /** Run only when rsync replaced a file Postfix reads and apply.sh changed (and reloaded) nothing. */
  reload: Command;
  /** The sudoers lines that allow exactly the root commands above (empty for root). */
  sudoers: string[];
  /** Whether the commands call sudo -S, which reads the password on stdin. */
  sudoStdin: boolean;
}

export const REMOTE_PATH = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH';

/** Debian package of each program a host needs. */
export const HOST_PACKAGES: Record<string, string> = { rsync: 'rsync', postconf: 'postfix', postfix: 'postfix', sh: 'dash', sudo: 'sudo' };

/** The argv each root job runs on `host` (before asRoot). */
export function rootJobs(s: Settings, host: Host): { install: string[] | null; apply: string[]; undeploy: string[]; status: string[]; reload: string[] } {
  return {
    install: usesSudo(host) ? sshCmd.rsyncFromStageArgv(STAGE_DIR, bundleTargets(bundleManifest(s, host))) : null,
    apply: ['sh', remoteFiles(s, host).applyScript],
    undeploy: ['sh', remoteFiles(s, host).applyScript, '--undeploy'],
    status: ['postfix', '-c', host.postfixDir, 'status'],
    reload: ['postfix', '-c', host.postfixDir, 'reload'],
  };
}

export function sudoersLines(s: Settings, host: Host): string[] {
  if (!usesSudo(host)) return [];
  const j = rootJobs(s, host);
  return [j.install!, j.apply, j.undeploy, j.status, j.reload, ...checkRootJobs(s, host, true)].map((a) => sudoersLine(host, a));
}

/**
 * `bundleRoot`: where the bundle's root/ is, as the printed rsync names it (default: relative to the project
 * directory, where deploy runs). `digests`: the bundle files' sha256 as the build recorded them, which the
 * survey compares with the host's files (without them every file counts as different).
 */
export function hostCommands(s: Settings, host: Host, sshOptions: readonly string[], mode: SudoMode = 'nopasswd', bundleRoot?: string, digests?: Digests): HostCommands {
  const j = rootJobs(s, host);
  const root = (argv: string[]) => shJoin(asRoot(host, argv, mode));
  const m = bundleManifest(s, host);
  const files = bundleTargets(m);
  const local = bundleRoot ?? m.root;
  const programs = ['rsync', 'postconf', 'postfix', 'sh', ...(usesSudo(host) ? ['sudo'] : [])];
  // `sudo -l CMD` says whether sudoers allows CMD, without running it (and with -n, without a password).
  const sudoChecks = usesSudo(host) && mode === 'nopasswd' ? [j.install!, j.apply] : [];
  const allowed = sudoChecks.map((a) => `sudo -n -l -- ${shJoin(a)} >/dev/null 2>&1 || { echo sudo-refused; sudo -n -l -- ${shJoin(a)} 2>&1 | head -n 1; }`);
  const prerequisites = sshCmd.ssh(host.ssh, sshOptions, [
    REMOTE_PATH,
    `for p in ${programs.join(' ')}; do command -v "$p" >/dev/null 2>&1 || echo "missing $p"; done`,
    ...allowed,
    'true',
  ].join('; '));
  const notRunning = shJoin([`Postfix (${host.postfixDir}) is not running; nothing to reload`]);
  const survey = surveyCommand(s, host, sshOptions, mode, digests, { path: REMOTE_PATH, programs, sudoChecks, apply: j.apply });
  return {
    survey: survey.cmd,
    surveyRootCalls: survey.rootCalls,
    prerequisites,
    stage: usesSudo(host) ? sshCmd.rsyncStage({ root: local, files, target: host.ssh, options: sshOptions, stageDir: STAGE_DIR }) : null,
    rsync: usesSudo(host)
      ? sshCmd.ssh(host.ssh, sshOptions, root(j.install!))
      : sshCmd.rsyncFiles({ root: local, files, target: host.ssh, options: sshOptions }),
    apply: sshCmd.ssh(host.ssh, sshOptions, root(j.apply)),
    undeploy: sshCmd.ssh(host.ssh, sshOptions, root(j.undeploy)),
    reload: sshCmd.ssh(host.ssh, sshOptions, `${REMOTE_PATH}; if ${root(j.status)} >/dev/null 2>&1; then ${root(j.reload)}; else echo ${notRunning}; fi`),
    sudoers: sudoersLines(s, host),
    sudoStdin: usesSudo(host) && mode === 'stdin',
  };
}
