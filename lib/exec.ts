// The only place that starts programs. execa is loaded on first use, so a run with nothing to do never loads it.
import { RunError } from './errors.js';

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

const PACKAGES: Record<string, string> = { openssl: 'openssl', gpg: 'gnupg', rsync: 'rsync', ssh: 'openssh-client', postconf: 'postfix', make: 'make' };

export async function run(
  argv: readonly string[],
  opts: { cwd?: string; input?: Buffer; signal?: AbortSignal; env?: Record<string, string | undefined> } = {},
): Promise<ExecResult> {
  const { execa } = await import('execa');
  const [file, ...args] = argv as [string, ...string[]];
  try {
    const r = await execa(file, args, {
      cwd: opts.cwd,
      input: opts.input,
      stdin: opts.input === undefined ? 'ignore' : undefined,
      encoding: 'buffer',
      reject: false,
      cancelSignal: opts.signal,
      env: opts.env,
      extendEnv: true,
      stripFinalNewline: false,
    });
    if (r.isCanceled) throw new RunError('interrupted');
    if (r.failed && r.exitCode === undefined) {
      const code = (r.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ENOENT') {
        const pkg = PACKAGES[file];
        throw new RunError(`${file}: command not found on PATH; install it${pkg ? ` (Debian package ${pkg})` : ''}`);
      }
      throw new RunError(`${file}: could not run (${r.shortMessage})`);
    }
    return { exitCode: r.exitCode ?? 1, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr).toString('utf8') };
  } catch (err) {
    if (err instanceof RunError) throw err;
    throw new RunError(`${file}: could not run (${(err as Error).message})`);
  }
}
