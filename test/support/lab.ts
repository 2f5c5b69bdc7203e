// A two-instance Postfix lab for end-to-end tests: a "client" instance (the host that relays out),
// a "relay" instance (the certificate-checking relay) and an smtp-sink that catches what the relay
// delivers. Everything runs on 127.0.0.1 in a temp dir; the default instance (/etc/postfix) is never
// started or modified.
//
// The lab writes only base config (ports, queue/data dirs, logging, host names, sink) and NEVER a
// TLS setting: the product's apply.sh scripts configure TLS on clientDir / relayDir, and apply.sh
// (not the lab) creates the relay's smtpd service on relayPort.
//
// Notes:
// - The client's relayhost starts as [127.0.0.1]:9 (nothing listens there): until a test or apply.sh
//   sets the real relayhost, mail defers instead of being routed by DNS/MX.
// - `postfix start` daemonizes the master. On machines whose PID 1 does not reap orphans, a stopped
//   master stays as a zombie: isAlive() counts zombies as dead.
// - Postfix readers (postconf, postfix reload, daemons) pause up to ~2 s when main.cf/master.cf were
//   modified in the last ~2 s. lab.postconf(), start() and reload() backdate those files first (see
//   settle()); an apply.sh that reads main.cf right after editing it pays that pause.
// - Tools that read the DEFAULT main.cf (posttls-finger, postmap without -c) die with
//   "fatal: open /etc/postfix/main.cf" under Debian's "No configuration" install. Do not create it:
//   run them with MAIL_CONFIG=<clientDir|relayDir> (or postmap -c DIR) instead.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { findCommand } from './prereq.js';

export { findCommand, labPrerequisites, requirePrerequisites } from './prereq.js';

export interface LabOptions {
  relayFqdn: string;
  clientFqdns: string[];
  relayPort: number;
  /** Extra base main.cf parameters (not TLS: apply.sh owns those), e.g. { relay: { mynetworks: '127.0.0.1/32' } }. */
  extraMainCf?: { client?: Record<string, string>; relay?: Record<string, string> };
}

export type Which = 'client' | 'relay';

export interface Lab {
  root: string;
  clientDir: string;
  relayDir: string;
  sinkDir: string;
  sinkPort: number;
  relayPort: number;
  relayFqdn: string;
  clientFqdn: string;
  /** The line added to /etc/hosts (removed again by cleanup()). */
  hostsLine: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  reload(which: Which): Promise<void>;
  inject(opts: { from: string; to: string; subject: string; body?: string }): Promise<void>;
  waitForDelivery(subject: string, timeoutMs?: number): Promise<string>;
  delivered(): string[];
  maillog(which: Which): string;
  /** Current maillog length; pass it as `since` to waitForLog to only look at newer lines. */
  logMark(which: Which): number;
  waitForLog(which: Which, re: RegExp, timeoutMs?: number, since?: number): Promise<string>;
  queue(which: Which): Promise<string>;
  flush(which: Which): Promise<void>;
  /** PIDs of live lab processes: both masters, every process running with their MAIL_CONFIG, the sink. */
  processes(): number[];
  /** Runs `postconf -c DIR ARGS…` and returns stdout. */
  postconf(which: Which, args: string[]): Promise<string>;
  cleanup(): Promise<void>;
}


const HOSTS = '/etc/hosts';
const HOSTS_LOCK = path.join(os.tmpdir(), 'postfix-tls-relay-hosts.lock');
const HOSTS_TAG = '# postfix-tls-relay test lab';
const CMD_TIMEOUT = 60_000;

// ---------------------------------------------------------------- small helpers (exported for tests)

function cmd(name: string): string {
  const p = findCommand(name);
  if (!p) throw new Error(`command not found: ${name} (run scripts/install-system-packages.sh test)`);
  return p;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls fn until it returns a value other than undefined; rejects with describe() after timeoutMs. */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number,
  describe: () => string, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await sleep(intervalMs);
  }
}

/** True while the process exists and is not a zombie (kill(pid, 0) also succeeds on zombies). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  }
}

/** SIGTERM, wait, then SIGKILL; resolves once the process is gone (or a zombie). */
export async function killAndWait(pid: number, timeoutMs = 5000): Promise<void> {
  if (!isAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  try {
    await waitFor(() => (isAlive(pid) ? undefined : true), timeoutMs, () => `pid ${pid} to exit`, 50);
  } catch {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await waitFor(() => (isAlive(pid) ? undefined : true), 5000, () => `pid ${pid} to die after SIGKILL`, 50);
  }
}

/** Is something listening on 127.0.0.1:port (or 0.0.0.0:port)? Reads /proc/net/tcp, so it opens no connection. */
export async function isListening(port: number): Promise<boolean> {
  let table: string;
  try { table = fs.readFileSync('/proc/net/tcp', 'utf8'); } catch {
    return new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.setTimeout(1000);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
      s.once('timeout', () => { s.destroy(); resolve(false); });
    });
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return table.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return (f[1] === `0100007F:${hexPort}` || f[1] === `00000000:${hexPort}`) && f[3] === '0A';
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => ((await isListening(port)) ? true : undefined), timeoutMs,
    () => `nothing listens on 127.0.0.1:${port}`, 50);
}

/** A free TCP port on 127.0.0.1 (free now; the OS may hand it out again later, so use it soon). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const tail = (text: string, lines = 40) => text.split('\n').slice(-lines - 1).join('\n');


// ---------------------------------------------------------------- swaks

/**
 * Runs swaks and returns its exit code and combined output; never throws on a non-zero exit.
 * Traffic must stay on loopback: without --server, `--server 127.0.0.1` is added (swaks would
 * otherwise look up the recipient domain's MX); a --server other than 127.0.0.1 or a name that
 * /etc/hosts maps to 127.0.0.1 is refused.
 */
export async function swaks(args: string[]): Promise<{ code: number; output: string }> {
  const i = args.findIndex((a) => a === '--server' || a === '-s');
  let full = args;
  if (i < 0) full = ['--server', '127.0.0.1', ...args];
  else {
    const host = (args[i + 1] ?? '').replace(/^\[(.*)\](:\d+)?$/, '$1').replace(/:\d+$/, '');
    if (host !== '127.0.0.1' && !loopbackHostNames().has(host.toLowerCase())) {
      throw new Error(`swaks: --server ${args[i + 1]} is not 127.0.0.1 or a name /etc/hosts maps to it`);
    }
  }
  const r = await execa(cmd('swaks'), full, { reject: false, all: true, timeout: CMD_TIMEOUT, stdin: 'ignore' });
  return { code: r.exitCode ?? -1, output: r.all ?? '' };
}

function loopbackHostNames(): Set<string> {
  const names = new Set<string>();
  for (const line of fs.readFileSync(HOSTS, 'utf8').split('\n')) {
    const f = line.replace(/#.*/, '').trim().split(/\s+/);
    if (f[0] === '127.0.0.1') f.slice(1).forEach((n) => names.add(n.toLowerCase()));
  }
  return names;
}

// ---------------------------------------------------------------- /etc/hosts

/** /etc/hosts is a bind mount in Docker and some CI containers: rename() onto it fails (EBUSY). */
function isMountPoint(p: string): boolean {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .some((l) => l.split(' ')[4]?.replace(/\\040/g, ' ') === p);
  } catch { return false; }
}

function writeHosts(content: string): void {
  if (!isMountPoint(HOSTS)) {
    const tmp = `${HOSTS}.ptr-lab-${process.pid}`;
    try {
      const mode = fs.statSync(HOSTS).mode & 0o7777;
      fs.writeFileSync(tmp, content, { mode });
      fs.chmodSync(tmp, mode);
      fs.renameSync(tmp, HOSTS);
      return;
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  }
  fs.writeFileSync(HOSTS, content); // in place: bind-mounted, or rename refused
}

/** Serializes edits of /etc/hosts between concurrent labs (read-modify-write would lose lines). */
function withHostsLock<T>(fn: () => T): T {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try { fs.mkdirSync(HOSTS_LOCK); break; } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - fs.statSync(HOSTS_LOCK).mtimeMs > 30_000) { fs.rmdirSync(HOSTS_LOCK); continue; }
      } catch { continue; }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${HOSTS_LOCK}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  try { return fn(); } finally { fs.rmSync(HOSTS_LOCK, { recursive: true, force: true }); }
}

function editHosts(edit: (lines: string[]) => string[]): void {
  withHostsLock(() => {
    const before = fs.readFileSync(HOSTS, 'utf8');
    const lines = before.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const after = edit(lines).map((l) => `${l}\n`).join('');
    if (after !== before) writeHosts(after);
  });
}

/** Adds our line; also drops lines of earlier labs whose temp dir no longer exists (crashed runs). */
function addHostsLine(line: string): void {
  editHosts((lines) => [
    ...lines.filter((l) => {
      const m = l.match(/# postfix-tls-relay test lab (\S+)$/);
      return l !== line && !(m?.[1] && !fs.existsSync(m[1]));
    }),
    line,
  ]);
}

function removeHostsLine(line: string): void {
  editHosts((lines) => lines.filter((l) => l !== line));
}

// ---------------------------------------------------------------- processes

interface Proc { pid: number; ppid: number; state: string }

function procTable(): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), state: rest[0] ?? '?', ppid: Number(rest[1]) });
    } catch { /* exited */ }
  }
  return out;
}

function mailConfigOf(pid: number): string | undefined {
  try {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return env.find((e) => e.startsWith('MAIL_CONFIG='))?.slice('MAIL_CONFIG='.length);
  } catch { return undefined; }
}

// ---------------------------------------------------------------- the lab

interface Instance {
  which: Which;
  fqdn: string;
  dir: string;
  queueDir: string;
  dataDir: string;
  logFile: string;
}

function masterPid(inst: Instance): number | undefined {
  try {
    const pid = parseInt(fs.readFileSync(path.join(inst.queueDir, 'pid', 'master.pid'), 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch { return undefined; }
}

/**
 * Postfix readers (postconf, postfix reload/start, every daemon) wait up to ~2 s for a main.cf or
 * master.cf modified within the last ~2 seconds to "cool down" (dict_load_file). Our writers have all
 * finished when this runs, so backdating the files skips that wait without any risk.
 */
function settle(inst: Instance): void {
  const past = new Date(Date.now() - 10_000);
  for (const f of ['main.cf', 'master.cf']) {
    const p = path.join(inst.dir, f);
    try {
      if (Date.now() - fs.statSync(p).mtimeMs < 5000) fs.utimesSync(p, past, past);
    } catch { /* missing: postfix will say so */ }
  }
}

function mainCf(inst: Instance, root: string, extra: Record<string, string>): string {
  const params: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: inst.queueDir,
    data_directory: inst.dataDir,
    myhostname: inst.fqdn,
    mydestination: '',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    maillog_file: inst.logFile,
    maillog_file_prefixes: root,
    // No DNS, ever: /etc/hosts only (getaddrinfo), and smtpd does not look up client names.
    smtp_host_lookup: 'native',
    smtp_dns_support_level: 'disabled',
    smtpd_peername_lookup: 'no',
    // No /etc/aliases(.db) or NIS lookups (smtpd logs errors for those otherwise).
    alias_maps: '',
    alias_database: '',
    // Retry deferred mail quickly.
    queue_run_delay: '2s',
    minimal_backoff_time: '2s',
    maximal_backoff_time: '4s',
    ...extra,
  };
  return `# postfix-tls-relay test lab: ${inst.which} instance (base config only, no TLS settings)\n`
    + Object.entries(params).map(([k, v]) => `${k} = ${v}`.trimEnd()).join('\n') + '\n';
}

export async function createLab(opts: LabOptions): Promise<Lab> {
  const clientFqdn = opts.clientFqdns[0];
  if (!clientFqdn) throw new Error('createLab: clientFqdns must name at least one host');
  const postconfBin = cmd('postconf');
  const postfixBin = cmd('postfix');
  const postqueueBin = cmd('postqueue');
  const sendmailBin = cmd('sendmail');
  const sinkBin = cmd('smtp-sink');

  const root = await fs.promises.mkdtemp(path.join('/tmp', 'ptr-lab-'));
  await fs.promises.chmod(root, 0o755); // postfix-owned processes must reach the spools and the sink dir
  const sinkPort = await freePort();
  const sinkDir = path.join(root, 'sink');
  const hostsLine = `127.0.0.1 ${[opts.relayFqdn, ...opts.clientFqdns].join(' ')}  ${HOSTS_TAG} ${root}`;

  const mkInstance = (which: Which, fqdn: string): Instance => ({
    which, fqdn,
    dir: path.join(root, which),
    queueDir: path.join(root, `${which}.spool`, 'queue'),
    dataDir: path.join(root, `${which}.spool`, 'data'),
    logFile: path.join(root, `${which}.maillog`),
  });
  const inst: Record<Which, Instance> = { client: mkInstance('client', clientFqdn), relay: mkInstance('relay', opts.relayFqdn) };

  const postconf = async (i: Instance, args: string[]) => {
    settle(i);
    return (await execa(postconfBin, ['-c', i.dir, ...args], { timeout: CMD_TIMEOUT })).stdout;
  };

  let sink: ChildProcess | undefined;
  let sinkOutput = '';
  let cleanedUp = false;
  let hostsAdded = false;

  const emergency = () => { // process 'exit' without cleanup(): synchronous best effort
    for (const i of Object.values(inst)) {
      try { execFileSync(postfixBin, ['-c', i.dir, 'stop'], { stdio: 'ignore', timeout: 10_000 }); } catch { /* */ }
    }
    try { sink?.kill('SIGKILL'); } catch { /* */ }
    try { if (hostsAdded) removeHostsLine(hostsLine); } catch { /* */ }
    try { fs.rmSync(root, { recursive: true, force: true }); } catch { /* */ }
  };
  process.once('exit', emergency);

  try {
    const { uid: pfUid, gid: pfGid } = postfixIds();
    for (const i of Object.values(inst)) {
      await fs.promises.mkdir(i.dir, { recursive: true });
      await fs.promises.mkdir(i.queueDir, { recursive: true, mode: 0o755 });
      await fs.promises.mkdir(i.dataDir, { recursive: true, mode: 0o700 });
      await fs.promises.chown(i.dataDir, pfUid, pfGid);
      const extra: Record<string, string> = i.which === 'relay'
        // Outbound TLS on, as Debian's stock main.cf has it (check --live FAILs a relay without it); the
        // sink offers no STARTTLS, so the relayed mail still reaches it in clear.
        ? { relayhost: `[127.0.0.1]:${sinkPort}`, smtp_tls_security_level: 'may' }
        : { relayhost: '[127.0.0.1]:9' }; // guard: defer, never route by DNS, until the real relayhost is set
      Object.assign(extra, opts.extraMainCf?.[i.which]);
      await fs.promises.writeFile(path.join(i.dir, 'main.cf'), mainCf(i, root, extra));
      await fs.promises.copyFile('/etc/postfix/master.cf', path.join(i.dir, 'master.cf'));
      // No listeners but the ones tests/apply.sh add; no chroot (the spools live in the lab).
      const types = await postconf(i, ['-F', '*/*/type']);
      for (const m of types.matchAll(/^(\S+)\/inet\/type = inet$/gm)) await postconf(i, ['-MX', `${m[1]}/inet`]);
      await postconf(i, ['-F', '*/*/chroot = n']);
      if (!(await postconf(i, ['-M', 'postlog/unix-dgram'])).trim()) {
        await postconf(i, ['-M', 'postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd']);
      }
    }
    await fs.promises.mkdir(sinkDir, { mode: 0o755 });
    await fs.promises.chown(sinkDir, pfUid, pfGid);
    addHostsLine(hostsLine);
    hostsAdded = true;
  } catch (e) {
    process.removeListener('exit', emergency);
    emergency();
    throw e;
  }

  const logOf = (w: Which) => { try { return fs.readFileSync(inst[w].logFile, 'utf8'); } catch { return ''; } };
  const diagnostics = async () => {
    const q = async (w: Which) => { try { return await lab.queue(w); } catch (e) { return String(e); } };
    return `\n--- sink: ${sinkFiles().length} file(s), port ${sinkPort}${sinkOutput ? `, output: ${tail(sinkOutput, 10)}` : ''}`
      + `\n--- client queue:\n${await q('client')}\n--- relay queue:\n${await q('relay')}`
      + `\n--- client maillog (tail):\n${tail(logOf('client'))}\n--- relay maillog (tail):\n${tail(logOf('relay'))}`;
  };
  const sinkFiles = () => {
    try { return fs.readdirSync(sinkDir).sort().map((f) => path.join(sinkDir, f)); } catch { return []; }
  };
  const inetPorts = async (i: Instance) => {
    const out = await postconf(i, ['-F', '*/inet/service']);
    return [...out.matchAll(/^\S+\/inet\/service = (?:127\.0\.0\.1:)?(\d+)$/gm)].map((m) => Number(m[1]));
  };
  const waitForInet = async (i: Instance) => {
    for (const port of await inetPorts(i)) await waitForPort(port, 10_000);
  };

  const startSink = async () => {
    if (sink && sink.exitCode === null && sink.signalCode === null) return;
    sinkOutput = '';
    const child = spawn(sinkBin, ['-u', 'postfix', '-d', `${sinkDir}/%M.`, `127.0.0.1:${sinkPort}`, '10'],
      { detached: false, stdio: ['ignore', 'pipe', 'pipe'] });
    sink = child;
    child.stdout?.on('data', (d) => { sinkOutput += String(d); });
    child.stderr?.on('data', (d) => { sinkOutput += String(d); });
    let exited = false;
    child.once('exit', () => { exited = true; });
    child.once('error', (e) => { sinkOutput += `spawn error: ${e.message}\n`; exited = true; });
    await waitFor(async () => {
      if (exited) throw new Error(`smtp-sink exited at start: ${sinkOutput}`);
      return (await isListening(sinkPort)) ? true : undefined;
    }, 10_000, () => `smtp-sink to listen on 127.0.0.1:${sinkPort}: ${sinkOutput}`, 50);
  };

  const stopSink = async () => {
    const child = sink;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };

  const stopInstance = async (i: Instance) => {
    const pid = masterPid(i);
    if (pid === undefined || !isAlive(pid)) return;
    const members = procTable().filter((p) => p.ppid === pid).map((p) => p.pid);
    await execa(postfixBin, ['-c', i.dir, 'stop'], { reject: false, timeout: CMD_TIMEOUT });
    await killAndWait(pid, 5000); // no-op when `postfix stop` already did it
    for (const p of [...members, ...procTable().filter((x) => mailConfigOf(x.pid) === i.dir).map((x) => x.pid)]) {
      await killAndWait(p, 3000);
    }
  };

  const lab: Lab = {
    root,
    clientDir: inst.client.dir,
    relayDir: inst.relay.dir,
    sinkDir,
    sinkPort,
    relayPort: opts.relayPort,
    relayFqdn: opts.relayFqdn,
    clientFqdn,
    hostsLine,

    async start() {
      if (cleanedUp) throw new Error('lab already cleaned up');
      await startSink();
      for (const i of [inst.relay, inst.client]) {
        const pid = masterPid(i);
        if (pid !== undefined && isAlive(pid)) continue;
        settle(i);
        for (const action of ['check', 'start']) {
          const r = await execa(postfixBin, ['-c', i.dir, action], { reject: false, all: true, timeout: CMD_TIMEOUT });
          if (r.exitCode !== 0) {
            throw new Error(`postfix -c ${i.dir} ${action} failed (exit ${r.exitCode}):\n${r.all}\n--- maillog:\n${tail(logOf(i.which))}`);
          }
        }
        await waitFor(() => { const p = masterPid(i); return p !== undefined && isAlive(p) ? p : undefined; },
          10_000, () => `${i.which} master to run\n${tail(logOf(i.which))}`);
        await waitForInet(i);
      }
    },

    async stop() {
      await Promise.all([stopInstance(inst.client), stopInstance(inst.relay), stopSink()]);
    },

    async reload(which) {
      const i = inst[which];
      const count = () => (logOf(which).match(/postfix\/master\[\d+\]: reload -- /g) ?? []).length;
      const before = count();
      settle(i);
      const r = await execa(postfixBin, ['-c', i.dir, 'reload'], { reject: false, all: true, timeout: CMD_TIMEOUT });
      if (r.exitCode !== 0) throw new Error(`postfix -c ${i.dir} reload failed:\n${r.all}\n${tail(logOf(which))}`);
      await waitFor(() => (count() > before ? true : undefined), 10_000,
        () => `${which} master to log the reload\n${tail(logOf(which))}`);
      await waitForInet(i);
    },

    async inject({ from, to, subject, body }) {
      const msg = `From: <${from}>\nTo: <${to}>\nSubject: ${subject}\n\n${body ?? `Test message: ${subject}`}\n`;
      await execa(sendmailBin, ['-C', inst.client.dir, '-i', '-f', from, '--', to], { input: msg, timeout: CMD_TIMEOUT });
    },

    async waitForDelivery(subject, timeoutMs = 30_000) {
      const re = new RegExp(`^Subject: ${subject.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\r?$`, 'm');
      const sizes = new Map<string, number>();
      try {
        return await waitFor(() => {
          for (const f of sinkFiles()) {
            let content: string;
            try { content = fs.readFileSync(f, 'utf8'); } catch { continue; }
            const seen = sizes.get(f);
            sizes.set(f, content.length);
            // smtp-sink writes while it receives: accept a file once its size held still for one poll.
            if (re.test(content) && seen === content.length) return content;
          }
          return undefined;
        }, timeoutMs, () => `delivery to the sink of a message with "Subject: ${subject}"`);
      } catch (e) {
        throw new Error(`${(e as Error).message}${await diagnostics()}`);
      }
    },

    delivered() {
      return sinkFiles().flatMap((f) => { try { return [fs.readFileSync(f, 'utf8')]; } catch { return []; } });
    },

    maillog: logOf,
    logMark: (which) => logOf(which).length,

    async waitForLog(which, re, timeoutMs = 30_000, since = 0) {
      try {
        return await waitFor(() => logOf(which).slice(since).split('\n').find((l) => re.test(l)),
          timeoutMs, () => `${which} maillog line matching ${re}`);
      } catch (e) {
        throw new Error(`${(e as Error).message}${await diagnostics()}`);
      }
    },

    async queue(which) {
      const r = await execa(postqueueBin, ['-c', inst[which].dir, '-p'], { reject: false, all: true, timeout: CMD_TIMEOUT });
      return r.all ?? '';
    },

    async flush(which) {
      await execa(postqueueBin, ['-c', inst[which].dir, '-f'], { timeout: CMD_TIMEOUT });
    },

    processes() {
      const pids = new Set<number>();
      for (const i of Object.values(inst)) {
        const pid = masterPid(i);
        if (pid !== undefined && isAlive(pid)) pids.add(pid);
      }
      for (const p of procTable()) {
        if (p.state === 'Z') continue;
        const mc = mailConfigOf(p.pid);
        if (mc === inst.client.dir || mc === inst.relay.dir) pids.add(p.pid);
        if (p.ppid > 1 && pids.has(p.ppid)) pids.add(p.pid);
      }
      if (sink?.pid !== undefined && isAlive(sink.pid)) pids.add(sink.pid);
      return [...pids].sort((a, b) => a - b);
    },

    postconf: (which, args) => postconf(inst[which], args),

    async cleanup() {
      if (cleanedUp) return;
      try {
        await lab.stop();
      } finally {
        cleanedUp = true;
        process.removeListener('exit', emergency);
        if (hostsAdded) removeHostsLine(hostsLine);
        await fs.promises.rm(root, { recursive: true, force: true });
      }
    },
  };
  return lab;
}

function postfixIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postfix'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}
