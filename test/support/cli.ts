// Runs the real CLI anywhere (no project needed), on pipes or on a real pseudo-terminal (util-linux
// `script`), to see what a user sees in both cases.
import { spawnSync } from 'node:child_process';
import { shJoin } from '../../lib/programs/shell.js';
import { CLI, type CliResult } from './project.js';

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** stdin, stdout and stderr are pipes: not a terminal. */
export function runCli(args: string[], opts: RunOptions): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, input: opts.input ?? '', encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The CLI on a pseudo-terminal: stdin, stdout and stderr are all the terminal, so `output` is both
 * streams as the user sees them (CR LF turned into LF). `input` is typed ahead, then end of input.
 */
export function runInTty(args: string[], opts: RunOptions): { code: number; output: string } {
  const r = spawnSync('script', ['--quiet', '--return', '--command', shJoin([process.execPath, CLI, ...args]), '/dev/null'], {
    cwd: opts.cwd,
    env: { ...(opts.env ?? process.env), TERM: 'xterm' },
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, output: r.stdout.replace(/\r\n/g, '\n') };
}

/** SGR sequences (colours, bold, dim). */
export const COLOUR = /\x1b\[[0-9;]*m/;
