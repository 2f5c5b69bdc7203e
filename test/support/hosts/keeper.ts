// One lab host's namespaces, kept alive by a tiny PID 1 that reaps orphans (daemons that double-fork,
// like Postfix's master and sshd, end up as its children). The chain is
//   setpriv --pdeathsig KILL unshare --net --mount --uts --ipc --pid --fork --kill-child --mount-proc perl …
// so the keeper dies when unshare dies and unshare dies when the test runner dies: even a killed
// mocha leaves no namespace behind. kill() sends SIGKILL to the keeper only; the kernel then ends every
// process of its PID namespace and drops its mounts and network devices. Nothing is killed by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Working directory inside the host (default /). */
  cwd?: string;
  /** Environment inside the host; PATH and HOME are set when not given. */
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
  /** Throw on a non-zero exit (default true). */
  check?: boolean;
}

export interface Keeper {
  name: string;
  /** The keeper's PID in the machine's PID namespace (PID 1 inside). */
  pid: number;
  /** Runs argv inside every namespace of the host. */
  run(argv: readonly string[], opts?: RunOptions): Promise<ExecResult>;
  /** `sh -c SCRIPT` inside the host. */
  sh(script: string, opts?: RunOptions): Promise<ExecResult>;
  /** Starts argv inside the host without waiting (for long-running programs such as a prompt). */
  spawn(argv: readonly string[], opts?: RunOptions): ChildProcess;
  alive(): boolean;
  kill(): Promise<void>;
}

const BASE_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
const REAPER = '$0 = "lab-keeper"; $SIG{TERM} = $SIG{INT} = "IGNORE"; while (1) { sleep 1 if wait() == -1 }';

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function exists(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startKeeper(name: string): Promise<Keeper> {
  const unshare = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--mount', '--uts', '--ipc', '--pid',
    '--fork', '--kill-child', '--mount-proc', '--', 'perl', '-e', REAPER], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  unshare.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => unshare.once('close', () => resolve()));
  let pid: number | undefined;
  for (let i = 0; i < 200 && pid === undefined; i++) {
    if (unshare.exitCode !== null) throw new Error(`${name}: unshare exited (${unshare.exitCode}): ${err.trim()}`);
    pid = children(unshare.pid!)[0];
    if (pid === undefined) await sleep(10);
  }
  if (pid === undefined) throw new Error(`${name}: the namespace keeper did not start: ${err.trim()}`);
  const keeperPid = pid;

  const nsenter = (argv: readonly string[], o: RunOptions) =>
    ['nsenter', '-t', String(keeperPid), '-n', '-m', '-u', '-i', '-p', `--wdns=${o.cwd ?? '/'}`, '--', 'env', '-i',
      ...Object.entries({ ...BASE_ENV, ...(o.env ?? {}) }).map(([k, v]) => `${k}=${v}`), ...argv];

  const spawnIn = (argv: readonly string[], o: RunOptions = {}): ChildProcess => {
    const full = nsenter(argv, o);
    return spawn(full[0]!, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  };

  const run = (argv: readonly string[], o: RunOptions = {}): Promise<ExecResult> =>
    new Promise((resolve, reject) => {
      const child = spawnIn(argv, o);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const r = { code: code ?? (signal ? 128 : -1), stdout, stderr };
        if (r.code !== 0 && o.check !== false) {
          reject(new Error(`${name}: ${argv.join(' ').slice(0, 300)} failed (exit ${r.code}${signal ? `, ${signal}` : ''}):\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
        } else resolve(r);
      });
      // A program that does not read its input may exit before it is written: that EPIPE is no error.
      child.stdin!.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') reject(e); });
      if (o.input) child.stdin!.end(o.input);
      else child.stdin!.end();
    });

  return {
    name,
    pid: keeperPid,
    run,
    sh: (script, o) => run(['sh', '-c', script], o),
    spawn: spawnIn,
    alive: () => exists(keeperPid),
    async kill() {
      try {
        process.kill(keeperPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      for (let i = 0; i < 500 && exists(keeperPid); i++) await sleep(10);
      await Promise.race([exited, sleep(5000)]);
    },
  };
}
