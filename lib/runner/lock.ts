// One build per project at a time: the CA database must never see two writers.
// The lock is a file made with O_EXCL holding the owner's pid. A lock whose owner is dead (a killed
// run) is taken over; the takeover itself runs under a second O_EXCL file, so that two runs finding
// the same stale lock cannot both remove it and both go on.
import { closeSync, linkSync, mkdirSync, rmdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fsFailure, RunError } from '../errors.js';
import { LOCK_FILE, shownPath as shown } from '../files/layout.js';
import { processAlive } from '../programs/exec.js';
import { LOCK, readStateFile } from '../files/state-files.js';

function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return readStateFile(LOCK, text); // anything but a pid: no owner, taken over as a killed run's
}

/** Creates `file` holding our pid, complete from its first moment (link(2) of a written temp file); false when it exists. */
function create(file: string): boolean {
  const tmp = `${file}.${process.pid}`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', 0o600); // never through a symlink left at that name
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}


/** Removes the lock at `file` if its owner is dead, re-checked under the breaker file. */
function breakStale(file: string, stalePid: number | undefined): void {
  const breaker = `${file}.break`;
  if (!create(breaker)) {
    // Another run is taking over right now (that lasts microseconds); a breaker older than that is
    // left by a run killed in the act.
    try {
      if (Date.now() - statSync(breaker).mtimeMs > 5000) rmSync(breaker, { force: true });
    } catch {
      /* gone meanwhile */
    }
    return;
  }
  try {
    if (readPid(file) === stalePid) rmSync(file, { force: true });
  } finally {
    rmSync(breaker, { force: true });
  }
}

/**
 * Programs a killed run started may still be finishing (SIGKILL does not reach its children); wait
 * for openssl/gpg processes working in this project before touching the CA database.
 */
async function waitForOrphans(projectDir: string, timeoutMs = 10_000): Promise<void> {
  const real = realpathSync(projectDir);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let busy = false;
    let pids: string[];
    try {
      pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
    } catch {
      return; // no /proc: nothing to look at
    }
    for (const p of pids) {
      try {
        const comm = readFileSync(`/proc/${p}/comm`, 'utf8').trim();
        if ((comm === 'openssl' || comm === 'gpg') && readlinkSync(`/proc/${p}/cwd`) === real) busy = true;
      } catch {
        /* exited or not ours to read */
      }
    }
    if (!busy || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The holder's command line, when /proc shows it: tells a running postfix-tls-relay from a reused pid. */
function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

function heldBy(file: string, pid: number): RunError {
  const cmd = commandOf(pid);
  const remove = `if no postfix-tls-relay is running in this project, remove ${file} and run again`;
  if (cmd !== undefined && !/postfix-tls-relay/.test(cmd)) {
    return new RunError(`${shown(file)}: the project lock names pid ${pid}, which is not postfix-tls-relay (${cmd.slice(0, 60)}; a pid reused after a crash?); ${remove}`);
  }
  return new RunError(`${shown(file)}: another postfix-tls-relay (pid ${pid}) is working in this project; wait for it to finish and run again (${remove})`);
}

export interface LockOptions {
  /** Wait this long for a live holder to finish instead of failing at once (add-client in parallel). */
  waitMs?: number;
  /** Told once when the lock is busy and we wait. */
  onWait?: (pid: number) => void;
}

export async function acquireLock(projectDir: string, opts: LockOptions = {}): Promise<() => void> {
  const file = path.join(projectDir, LOCK_FILE);
  let madeDir = false;
  try {
    // Not recursive: a recursive mkdir reports a read-only file system as ENOENT.
    mkdirSync(path.dirname(file), { mode: 0o700 });
    madeDir = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsFailure(err, shown(path.dirname(file)), 'cannot create the state directory');
  }
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let told = false;
  for (let attempt = 0; attempt < 3; attempt++) {
    let made: boolean;
    try {
      made = create(file);
    } catch (err) {
      throw fsFailure(err, shown(file), 'cannot take the project lock');
    }
    if (made) {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(file, { force: true });
        // A run that failed its checks leaves the project as it found it.
        if (madeDir) {
          try {
            rmdirSync(path.dirname(file));
          } catch {
            /* holds state.json: keep */
          }
        }
      };
    }
    const pid = readPid(file);
    if (pid !== undefined && pid !== process.pid && processAlive(pid)) {
      if (Date.now() >= deadline) throw heldBy(file, pid);
      if (!told) opts.onWait?.(pid);
      told = true;
      attempt--; // waiting for a live holder is not a failed attempt
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    breakStale(file, pid); // left by a killed run
    await waitForOrphans(projectDir);
  }
  throw new RunError(`${shown(file)}: cannot take the project lock; if no postfix-tls-relay is running in this project, remove ${file} and run again`);
}

/** Runs `fn` holding the project lock, and releases it whatever happens. */
export async function withLock<T>(projectDir: string, opts: LockOptions, fn: () => T | Promise<T>): Promise<T> {
  const release = await acquireLock(projectDir, opts);
  try {
    return await fn();
  } finally {
    release();
  }
}
