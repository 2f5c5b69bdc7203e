// The only place that starts programs, through execa. execa is imported on first use: its import
// costs about as much as starting node (~90 ms, `npm run bench -- --only imports`), so a run with
// nothing to do never pays it; a build that runs commands pays it once.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { INTERRUPTED, RunError } from '../errors.js';

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

const PACKAGES: Record<string, string> = { openssl: 'openssl', gpg: 'gnupg', rsync: 'rsync', ssh: 'openssh-client', postconf: 'postfix', make: 'make' };

export function notFound(program: string): RunError {
  const pkg = PACKAGES[program];
  return new RunError(`${program}: command not found on PATH; install it${pkg ? ` (Debian package ${pkg})` : ''}`);
}

/** Throws notFound() unless `program` is an executable file on PATH: checked before a build writes anything. */
export function requireProgram(program: string, envPath = process.env.PATH ?? ''): void {
  for (const d of envPath.split(path.delimiter)) {
    const f = path.join(d || '.', program);
    try {
      accessSync(f, constants.X_OK);
      if (statSync(f).isFile()) return;
    } catch {
      /* not here */
    }
  }
  throw notFound(program);
}

export async function run(
  argv: readonly string[],
  opts: { cwd?: string; input?: Buffer; signal?: AbortSignal; env?: Record<string, string | undefined> } = {},
): Promise<ExecResult> {
  const [file, ...args] = argv as [string, ...string[]];
  if (opts.signal?.aborted) throw new RunError(INTERRUPTED);
  const { execa } = await import('execa');
  const r = await execa(file, args, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: true,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : undefined,
    encoding: 'buffer',
    reject: false,
    stripFinalNewline: false,
    cancelSignal: opts.signal,
  });
  // A Ctrl-C to the process group reaches the child too, and its exit may be seen before our own
  // SIGINT handler runs: a child stopped by SIGINT or SIGTERM was interrupted, like us.
  if (r.isCanceled || opts.signal?.aborted || r.signal === 'SIGINT' || r.signal === 'SIGTERM') throw new RunError(INTERRUPTED);
  if (r.exitCode === undefined) {
    const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') throw notFound(file);
    throw new RunError(`${file}: could not run (${r.signal ? `killed by ${r.signal}` : r.shortMessage})`);
  }
  return { exitCode: r.exitCode, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr).toString('utf8') };
}

/** A program left running (an ssh connection master): its PID, its end, and a way to end its input. */
export interface Background {
  readonly pid: number;
  /** Resolves when it has exited, with its code (null when a signal ended it) and what it wrote on stderr. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  running(): boolean;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts argv without waiting for it. Its stdin is a pipe this process never writes to: the program
 * sees end of input when this process ends, however it ends (even killed), which is how a caller can
 * tie the program's life to its own. It does not keep this process running (see the caller's exit handling).
 */
export async function startBackground(argv: readonly string[], opts: { cwd?: string } = {}): Promise<Background> {
  const { spawn } = await import('node:child_process');
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, { cwd: opts.cwd, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdin!.on('error', () => { /* it may exit first */ });
  // It never keeps this process alive by itself: whoever waits for it holds a timer or another child.
  child.unref();
  for (const s of [child.stdin, child.stderr] as const) (s as unknown as { unref?: () => void }).unref?.();
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      done = true;
      resolve({ code: e.code === 'ENOENT' ? 127 : -1, signal: null, stderr: e.code === 'ENOENT' ? notFound(file).message : e.message });
    });
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal, stderr });
    });
  });
  return {
    pid: child.pid ?? -1,
    exited,
    running: () => !done && child.exitCode === null && child.signalCode === null,
    kill: (signal = 'SIGTERM') => {
      if (!done) child.kill(signal);
    },
  };
}

/** Whether process `pid` exists (EPERM: it does, owned by another user). Signal 0 only asks. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
