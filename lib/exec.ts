// The only place that starts programs. Plain node:child_process rather than execa: importing execa 9
// alone takes about as long as starting node (~90 ms, measured in `npm run bench -- --only imports`),
// paid on every build that runs a command, and we need none of its extras.
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { INTERRUPTED, RunError } from './errors.js';

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

export function run(
  argv: readonly string[],
  opts: { cwd?: string; input?: Buffer; signal?: AbortSignal; env?: Record<string, string | undefined> } = {},
): Promise<ExecResult> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new RunError(INTERRUPTED));
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') reject(new RunError(INTERRUPTED));
      else if (e.code === 'ENOENT') reject(notFound(file));
      else reject(new RunError(`${file}: could not run (${e.message})`));
    });
    child.on('close', (code, signal) => {
      if (opts.signal?.aborted) return reject(new RunError(INTERRUPTED));
      if (code === null) return reject(new RunError(`${file}: could not run (killed by ${signal})`));
      resolve({ exitCode: code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined); // EPIPE when the program exits without reading it all
      child.stdin!.end(opts.input);
    }
  });
}
