// Watching the real CLI from outside: its descendant processes (via /proc) and an async runner.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { CLI } from './project.js';

/** Direct children of `pid` (all its threads), from /proc/<pid>/task/<tid>/children. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      /* thread gone */
    }
  }
  return out;
}

export function descendantsOf(pid: number): number[] {
  const all: number[] = [];
  const queue = childrenOf(pid);
  while (queue.length) {
    const p = queue.shift()!;
    all.push(p);
    queue.push(...childrenOf(p));
  }
  return all;
}

export interface ProcSample {
  pid: number;
  comm: string;
  /** argv joined by NUL, as in /proc. */
  cmdline: Buffer;
  environ: Buffer;
}

export function sample(pid: number): ProcSample | undefined {
  try {
    return {
      pid,
      comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
      cmdline: readFileSync(`/proc/${pid}/cmdline`),
      environ: readFileSync(`/proc/${pid}/environ`),
    };
  } catch {
    return undefined; // exited meanwhile
  }
}

export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie has finished
  } catch {
    return false;
  }
}

export interface Running {
  child: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when the CLI has exited. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * Starts `node bin/postfix-tls-relay.js ARGS` without waiting. It leads its own process group, so a
 * test can kill it with everything it started (`process.kill(-pid, 'SIGKILL')`). `umask` applies to it.
 */
export function startCli(args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; umask?: number }): Running {
  const argv = [process.execPath, CLI, ...args];
  const child =
    opts.umask === undefined
      ? spawn(argv[0]!, argv.slice(1), { env: opts.env, cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('/bin/sh', ['-c', `umask ${opts.umask.toString(8).padStart(3, '0')} && exec "$@"`, 'sh', ...argv], {
          env: opts.env, cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
        });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err }));
  });
  return { child, pid: child.pid!, stdout: () => out, stderr: () => err, done };
}

/** Calls `fn` about every `ms` until it returns true or `until` resolves. */
export async function poll(fn: () => boolean | void, until: Promise<unknown>, ms = 1): Promise<void> {
  let over = false;
  void until.then(() => (over = true));
  while (!over) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, ms));
  }
}

/** Waits until none of `pids` runs any more (orphans of a killed CLI finish their work). */
export async function waitGone(pids: Iterable<number>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const p of pids) while (isRunning(p) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}
