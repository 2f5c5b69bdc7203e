// Every file we write appears whole or not at all: temp file in the same directory, fsync, rename.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileFailure } from '../errors.js';
import { shownPath } from './layout.js';

export function tmpName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
}

/**
 * `durable: false` for caches that prove themselves when read (each entry carries the identity of what it
 * describes): still whole or not at all, but not flushed to the disk before the rename, which on a fleet
 * costs more than what they save.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644, opts: { durable?: boolean } = {}): void {
  try {
    writeWhole(file, data, mode, opts.durable !== false);
  } catch (err) {
    throw fileFailure(err, shownPath(file)); // a full disk names the file, wherever the write was (a cache, keys.json …)
  }
}

function writeWhole(file: string, data: string | Buffer, mode: number, durable: boolean): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${tmpName(file)}.${process.pid}`;
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  // A fresh temp, never an existing file or a symlink planted at its (predictable) name.
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', mode);
  try {
    // write(2) may write less than asked when the disk fills up; the next call then reports ENOSPC.
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    if (durable) fsyncSync(fd);
    closeSync(fd);
    chmodSync(tmp, mode); // whatever the umask
    renameSync(tmp, file);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Flushes a file another program wrote, before we rename it into place. */
export function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// The same without blocking the event loop: a build writes hundreds of files, and each fsync waits for
// the disk (milliseconds). On libuv's thread pool they overlap with each other and with running commands.

export async function writeFileAtomicAsync(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${tmpName(file)}.${process.pid}`;
  await rm(tmp, { force: true });
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data); // loops over short writes; a full disk ends in ENOSPC
    await fh.sync();
    await fh.close();
    await chmod(tmp, mode); // whatever the umask
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined); // may be closed already
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function fsyncFileAsync(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** What removeStaleTemps needs of the scanned tree (files/tree.ts's ProjectTree). */
interface ScannedTree {
  readonly dir: string;
  names(dirRel: string): readonly string[] | undefined;
  forget(rel: string): void;
}

/**
 * Removes temp files a killed run left next to `files` (`.name.tmp` of commands, `.name.tmp.<pid>` of
 * writeFileAtomic), finding them in the scanned tree. Only call while holding the project lock: then
 * no live writer owns them.
 */
export function removeStaleTemps(tree: ScannedTree, files: readonly string[]): string[] {
  const byDir = new Map<string, Set<string>>();
  for (const f of files) {
    const d = path.posix.dirname(f);
    let temps = byDir.get(d);
    if (!temps) byDir.set(d, (temps = new Set()));
    temps.add(`.${path.posix.basename(f)}.tmp`);
  }
  const removed: string[] = [];
  for (const [d, temps] of byDir) {
    let names = tree.names(d);
    if (names === undefined) {
      try {
        names = readdirSync(path.join(tree.dir, d)); // not scanned (outside the trees, or changed since)
      } catch {
        continue; // not made yet
      }
    }
    for (const n of names) {
      if (n.startsWith('.') && (temps.has(n) || temps.has(n.replace(/\.\d+$/, '')))) {
        rmSync(path.join(tree.dir, d, n), { force: true });
        tree.forget(`${d}/${n}`);
        removed.push(path.join(d, n));
      }
    }
  }
  return removed;
}
