// One ssh connection per host per run. The first command for a host starts an OpenSSH connection
// master (programs/ssh.ts controlMaster) whose socket lives in a directory made for this run
// (mkdtemp, 0700) under a directory only this user can enter; every ssh and rsync command of that host
// then rides it (ControlMaster=no, ControlPath=…). The run closes each master with `ssh -O exit` and
// removes the directory when it ends; a signal, an exit or a crash ends the masters by the PIDs this
// process started; a kill -9 ends them too, through their input (see controlMaster).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendAudit } from '../files/audit.js';
import { INTERRUPTED, RunError } from '../errors.js';
import type { RemoteVia } from '../programs/command.js';
import { processAlive, run, startBackground, type Background, type ExecResult } from '../programs/exec.js';
import { controlExit, controlMaster, sharedOptions, sshDestination, userSharesConnections } from '../programs/ssh.js';
import type { Host, SshTarget } from '../settings/index.js';

/** How a command reaches its host: with these options first (the shared connection), directly, or not at all. */
export type Route = { first: string[] } | { direct: true } | { unreachable: ExecResult };

interface Master {
  via: RemoteVia;
  socket: string;
  proc?: Background;
  ready: Promise<Route>;
}

/** Unix socket paths hold 107 bytes; ssh binds a name 17 bytes longer first (`<path>.<random>`). */
const MAX_DIR = 80;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** What ssh says when it cannot connect or log in (the master then stands for every command of the host). */
const CANNOT_CONNECT = /^ssh: |Host key verification failed|Permission denied|REMOTE HOST IDENTIFICATION HAS CHANGED|Connection (refused|timed out|closed)|Could not resolve/m;

/**
 * The private parent of each run's socket directory: $XDG_RUNTIME_DIR/postfix-tls-relay, else
 * ~/.cache/postfix-tls-relay, made 0700 and used only when it is ours and nobody else may enter it.
 * Null when neither will do (then a mkdtemp directory of the system temp directory, itself 0700).
 */
export function privateBase(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string | null {
  const uid = process.getuid?.() ?? -1;
  const candidates = [env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'postfix-tls-relay') : null, home ? path.join(home, '.cache', 'postfix-tls-relay') : null];
  for (const dir of candidates) {
    if (!dir || !path.isAbsolute(dir) || !/^[\w./-]+$/.test(dir) || dir.length + 16 > MAX_DIR) continue;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = fs.lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid) continue;
      if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
      return dir;
    } catch {
      /* not usable: try the next */
    }
  }
  return null;
}

/** Removes socket directories left by runs that no longer exist (a kill -9 gives no chance to clean up). */
function removeLeftovers(base: string): void {
  for (const name of safeReaddir(base)) {
    const pid = Number(/^ssh-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(path.join(base, name), { recursive: true, force: true });
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Connections {
  private dir: string | null = null;
  private readonly masters = new Map<string, Master>();
  /** Released masters being closed. */
  private readonly retiring = new Map<Master, Promise<void>>();
  private interrupted = false;
  /** Masters started in this run: each socket's name. */
  private opened = 0;
  private readonly onSignal = (sig: NodeJS.Signals) => void this.stopOnSignal(sig);
  private readonly onExit = () => this.stopNow();

  /** The directory of this run's sockets, while one is open (for tests and -v output). */
  get socketDir(): string | null {
    return this.dir;
  }

  /** PIDs of the masters this process started and that still run. */
  pids(): number[] {
    return this.all().flatMap((m) => (m.proc?.running() ? [m.proc.pid] : []));
  }

  /** How a command with `via` reaches its host; starts the host's master on first use. */
  async route(projectDir: string, via: RemoteVia): Promise<Route> {
    if (this.interrupted) throw new RunError(INTERRUPTED);
    if (userSharesConnections(via.options)) return { direct: true };
    const key = `${sshDestination(via.target)}:${via.target.port} ${via.options.join(' ')}`;
    let m = this.masters.get(key);
    if (!m) {
      // Never a name used before in this run: a released host's socket may still be there.
      const socket = path.join(this.open(), String(this.opened++));
      const entry: Master = { via, socket, ready: Promise.resolve<Route>({ direct: true }) };
      entry.ready = this.start(projectDir, entry);
      this.masters.set(key, (m = entry));
    }
    return m.ready;
  }

  private open(): string {
    if (this.dir) return this.dir;
    const base = privateBase();
    if (base) removeLeftovers(base);
    this.dir = fs.mkdtempSync(path.join(base ?? os.tmpdir(), `ssh-${process.pid}-`));
    fs.chmodSync(this.dir, 0o700);
    for (const s of SIGNALS) process.on(s, this.onSignal);
    process.on('exit', this.onExit);
    return this.dir;
  }

  private async start(projectDir: string, m: Master): Promise<Route> {
    const cmd = controlMaster(m.via.target, m.via.options, m.socket);
    const start = new Date().toISOString();
    const t0 = performance.now();
    const audit = (exit: number) => appendAudit(projectDir, { start, step: `ssh-connection:${sshDestination(m.via.target)}:${m.via.target.port}`, command: cmd.display, durationMs: performance.now() - t0, exit });
    const proc = (m.proc = await startBackground(cmd.argv, { cwd: projectDir }));
    let ended: { code: number | null; stderr: string } | undefined;
    void proc.exited.then((e) => (ended = e));
    // The socket appears (renamed into place by ssh) once the connection is authenticated.
    for (let wait = 2; ; wait = Math.min(wait * 2, 20)) {
      if (this.interrupted) throw new RunError(INTERRUPTED);
      if (fs.existsSync(m.socket)) {
        audit(0);
        return { first: sharedOptions(m.socket) };
      }
      if (ended) break;
      await sleep(wait);
    }
    audit(ended.code ?? -1);
    // ssh could not connect or log in: so would each command; say so once, in ssh's words.
    if (ended.code === 255 && CANNOT_CONNECT.test(ended.stderr)) return { unreachable: { exitCode: 255, stdout: Buffer.alloc(0), stderr: ended.stderr } };
    // Anything else (the host refuses a session for `cat`, say): its commands connect on their own.
    return { direct: true };
  }

  /** Closes every master (`ssh -O exit`, then by PID if it is still there) and removes the socket directory. */
  async close(projectDir: string): Promise<void> {
    const masters = [...this.masters.values()];
    this.masters.clear();
    await Promise.all([...masters.map((m) => closeMaster(projectDir, m)), ...[...this.retiring].map(([, p]) => p)]);
    this.forget();
  }

  /**
   * Starts closing the connection to `t` (a host that is done: a fleet keeps no idle connections);
   * close() waits for it. A later command for `t` opens a new one.
   */
  release(projectDir: string, t: SshTarget): void {
    for (const [key, m] of [...this.masters].filter(([, x]) => x.via.target.user === t.user && x.via.target.host === t.host && x.via.target.port === t.port)) {
      this.masters.delete(key);
      const done = closeMaster(projectDir, m).finally(() => this.retiring.delete(m));
      this.retiring.set(m, done);
    }
  }

  private all(): Master[] {
    return [...this.masters.values(), ...this.retiring.keys()];
  }

  /** On exit or a crash: the masters by PID, the directory, synchronously. */
  private stopNow(): void {
    for (const m of this.all()) m.proc?.kill('SIGTERM');
    this.masters.clear();
    this.forget();
  }

  /** A signal: no command starts any more; the masters go (so do the commands riding them); then the signal's default when nobody else handles it. */
  private async stopOnSignal(sig: NodeJS.Signals): Promise<void> {
    this.interrupted = true;
    const procs = this.all().flatMap((m) => (m.proc ? [m.proc] : []));
    this.masters.clear();
    await Promise.all(procs.map((p) => stopProcess(p, 0)));
    const others = process.listenerCount(sig) - 1;
    this.forget();
    if (others === 0) process.kill(process.pid, sig);
  }

  private forget(): void {
    for (const s of SIGNALS) process.off(s, this.onSignal);
    process.off('exit', this.onExit);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

async function closeMaster(projectDir: string, m: Master): Promise<void> {
  await m.ready.catch(() => undefined);
  const proc = m.proc;
  if (!proc?.running()) return;
  if (fs.existsSync(m.socket)) {
    const cmd = controlExit(m.via.target, m.socket);
    const start = new Date().toISOString();
    const t0 = performance.now();
    const r = await run(cmd.argv, { cwd: projectDir }).catch(() => undefined);
    appendAudit(projectDir, { start, step: `ssh-close:${sshDestination(m.via.target)}:${m.via.target.port}`, command: cmd.display, durationMs: performance.now() - t0, exit: r?.exitCode ?? -1 });
  }
  await stopProcess(proc, 2000);
}

/** Waits `graceMs` for it to exit, then SIGTERM, then SIGKILL after 2 s more; resolves when it has exited. */
async function stopProcess(p: Background, graceMs: number): Promise<void> {
  const timers = [setTimeout(() => p.kill('SIGTERM'), graceMs), setTimeout(() => p.kill('SIGKILL'), graceMs + 2000)];
  await p.exited;
  for (const t of timers) clearTimeout(t);
}

/** How -n tells that each host's commands share one connection (its socket is made per run). */
export function describeSharing(h: Host, options: readonly string[]): string {
  if (userSharesConnections(options)) return 'each command connects as your ssh options say (they set Control* options)';
  const dir = '<private directory of the run>';
  return [
    'each host\'s commands share one ssh connection, opened before its first command with',
    `  ${controlMaster(h.ssh, options, `${dir}/N`).display}`,
    `then run with -o ControlMaster=no -o ControlPath=${dir}/N put first (audit.log shows them so), closed at the end with`,
    `  ${controlExit(h.ssh, `${dir}/N`).display}`,
  ].join('\n');
}

/** The run's connections: one per process, opened on the first remote command. */
export const connections = new Connections();
