// The only place that starts programs. Plain node:child_process rather than execa: importing execa 9
// alone takes about as long as starting node (~90 ms, measured in `npm run bench -- --only imports`),
// paid on every build that runs a command, and we need none of its extras.
import { spawn } from 'node:child_process';
import { RunError } from './errors.js';

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

const PACKAGES: Record<string, string> = { openssl: 'openssl', gpg: 'gnupg', rsync: 'rsync', ssh: 'openssh-client', postconf: 'postfix', make: 'make' };

export function run(
  argv: readonly string[],
  opts: { cwd?: string; input?: Buffer; signal?: AbortSignal; env?: Record<string, string | undefined> } = {},
): Promise<ExecResult> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new RunError('interrupted'));
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
      if (e.name === 'AbortError') reject(new RunError('interrupted'));
      else if (e.code === 'ENOENT') {
        const pkg = PACKAGES[file];
        reject(new RunError(`${file}: command not found on PATH; install it${pkg ? ` (Debian package ${pkg})` : ''}`));
      } else reject(new RunError(`${file}: could not run (${e.message})`));
    });
    child.on('close', (code, signal) => {
      if (opts.signal?.aborted) return reject(new RunError('interrupted'));
      if (code === null) return reject(new RunError(`${file}: could not run (killed by ${signal})`));
      resolve({ exitCode: code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined); // EPIPE when the program exits without reading it all
      child.stdin!.end(opts.input);
    }
  });
}
