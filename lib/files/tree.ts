// The project's trees (certs/, etc/, out/, .postfix-tls-relay/, archive/) read once per run: every
// entry's lstat, in depth-first order. The ownership check, the key modes, the stale temp files and the
// project state's file times all come from this one scan instead of walking the trees each.
//
// A fleet's out/ holds thousands of directories. Reading each of them on every run would cost more than
// the rest of a no-op build, so the names a directory held are remembered (tree.json) with the
// directory's identity: adding, removing or renaming an entry changes the directory's mtime and ctime,
// so an unchanged identity means the same names. Every entry is still lstat'ed (a chmod or chown changes
// only the entry). A directory changed less than a second before it was read is not remembered (racy()).
import { createHash } from 'node:crypto';
import { constants, lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { RunError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { STATE_DIR, TREE_FILE } from './layout.js';
import { loadStateFile, TREE } from './state-files.js';

/** The trees the tool writes, relative to the project directory. */
export const PROJECT_TREES = ['certs', 'etc', 'out', STATE_DIR, 'archive'];

/**
 * Remembered listings: directory → [inode, mtimeMs, ctimeMs, names joined by "/"] (numbers: no float
 * formatting per directory; one string: a fleet's tree.json parses without tens of thousands of strings).
 */
type Listings = Record<string, [number, number, number, string]>;

/**
 * Changed less than a second before `now`: a change in the same clock tick could leave the times as they
 * were, so nothing is remembered by such an identity (git calls this "racy").
 */
export function racy(st: Pick<FileStats, 'mtimeMs' | 'ctimeMs'>, now: number): boolean {
  return now - Math.max(st.mtimeMs, st.ctimeMs) < 1000;
}

/** A file's identity as one string: any write, chmod, rename or replacement changes it. */
export const identityOf = (st: FileStats): string => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/** The names of a remembered listing; undefined unless each is one readdir could have returned (a damaged tree.json must not point outside). */
function namesOf(joined: string): string[] | undefined {
  if (joined === '') return [];
  const names = joined.split('/');
  return names.every((n) => n !== '' && n !== '.' && n !== '..') ? names : undefined;
}

/** What the tool asks of a file's stat (node's Stats has it all). */
export interface FileStats {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly mode: number;
  readonly uid: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

const FIELDS = 6; // ino, size, mtimeMs, ctimeMs, mode, uid

/** An entry as scanned, made when asked for. */
class Scanned implements FileStats {
  constructor(readonly ino: number, readonly size: number, readonly mtimeMs: number, readonly ctimeMs: number, readonly mode: number, readonly uid: number) {}
  isFile(): boolean {
    return (this.mode & constants.S_IFMT) === constants.S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & constants.S_IFMT) === constants.S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return (this.mode & constants.S_IFMT) === constants.S_IFLNK;
  }
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // gone meanwhile
    throw new RunError(`${path.relative(process.cwd(), file) || file}: cannot read (${code}); check its permissions`);
  }
}

export class ProjectTree {
  // Every entry found, roots first, then depth-first in directory order: its path, and its numbers in
  // one array (a fleet's tens of thousands of Stats objects kept alive cost more in garbage collection
  // than the lstat calls that made them).
  private readonly rows = new Map<string, number>();
  private readonly paths: string[] = [];
  private numbers = new Float64Array(1024 * FIELDS);
  /** Directories whose names are known now. */
  private readonly listed = new Map<string, readonly string[]>();
  private readonly remembered: Listings = {};
  private changed = false;
  /** Something was written or removed since the scan: it no longer describes the disk. */
  private touched = false;
  private readonly scannedAt = Date.now();
  /** Directories actually read (the rest came from tree.json). */
  dirsRead = 0;

  private constructor(readonly dir: string) {}

  private add(rel: string, st: Stats): void {
    const row = this.paths.length;
    if ((row + 1) * FIELDS > this.numbers.length) {
      const more = new Float64Array(this.numbers.length * 2);
      more.set(this.numbers);
      this.numbers = more;
    }
    const n = this.numbers;
    const o = row * FIELDS;
    n[o] = st.ino;
    n[o + 1] = st.size;
    n[o + 2] = st.mtimeMs;
    n[o + 3] = st.ctimeMs;
    n[o + 4] = st.mode;
    n[o + 5] = st.uid;
    this.paths.push(rel);
    this.rows.set(rel, row);
  }

  private at(row: number): Scanned {
    const n = this.numbers;
    const o = row * FIELDS;
    return new Scanned(n[o]!, n[o + 1]!, n[o + 2]!, n[o + 3]!, n[o + 4]!, n[o + 5]!);
  }

  /** Scans the trees of `projectDir`, using (and renewing) what tree.json remembers. */
  static scan(projectDir: string): ProjectTree {
    const t = new ProjectTree(projectDir);
    const before = loadListings(projectDir);
    const now = t.scannedAt;
    const base = projectDir.endsWith('/') ? projectDir : `${projectDir}/`; // path.join per entry costs on a fleet
    const walk = (rel: string, st: Stats) => {
      const known = before[rel];
      let names: readonly string[];
      const listed = Array.isArray(known) && known[0] === st.ino && known[1] === st.mtimeMs && known[2] === st.ctimeMs && typeof known[3] === 'string' ? namesOf(known[3]) : undefined;
      if (listed) {
        names = listed;
      } else {
        try {
          names = readdirSync(base + rel);
        } catch {
          return; // unreadable: the command that needs it says so
        }
        t.dirsRead++;
        // The state directory changes on every run (its lock): read it each time, never worth a save.
        if (rel !== STATE_DIR) t.changed = true;
      }
      t.listed.set(rel, names);
      if (rel !== STATE_DIR && !racy(st, now)) t.remembered[rel] = [st.ino, st.mtimeMs, st.ctimeMs, names.join('/')];
      for (const n of names) {
        const r = `${rel}/${n}`;
        const s = lstatOrUndefined(base + r);
        if (!s) continue;
        t.add(r, s);
        if (s.isDirectory()) walk(r, s);
      }
    };
    for (const root of PROJECT_TREES) {
      let st: Stats;
      try {
        st = statSync(path.join(projectDir, root)); // a symlinked out/ is judged by where it points
      } catch {
        continue;
      }
      t.add(root, st);
      if (st.isDirectory()) walk(root, st);
    }
    if (Object.keys(before).length !== Object.keys(t.remembered).length) t.changed = true;
    return t;
  }

  /** Each entry's path, mode and owner, in scan order, without making an object per entry; stops when `fn` returns true. */
  someEntry(fn: (rel: string, mode: number, uid: number) => boolean): boolean {
    const n = this.numbers;
    for (let row = 0; row < this.paths.length; row++) {
      const rel = this.paths[row]!;
      if (this.rows.get(rel) === row && fn(rel, n[row * FIELDS + 4]!, n[row * FIELDS + 5]!)) return true;
    }
    return false;
  }

  /**
   * The lstat of `rel` as scanned; null when it is known to be missing (its directory was listed
   * without it); undefined when the scan cannot say (outside the trees, below a symbolic link, or
   * changed since).
   */
  lookup(rel: string): FileStats | null | undefined {
    const row = this.rows.get(rel);
    if (row !== undefined) return this.at(row);
    return this.listed.has(path.posix.dirname(rel)) ? null : undefined;
  }

  /**
   * `rel`'s mtime as scanned, without making an object (the staleness query asks tens of thousands);
   * null when it is known to be missing; undefined when the scan cannot say or it is a symbolic link.
   */
  mtimeOf(rel: string): number | null | undefined {
    const row = this.rows.get(rel);
    if (row !== undefined) {
      const o = row * FIELDS;
      return (this.numbers[o + 4]! & constants.S_IFMT) === constants.S_IFLNK ? undefined : this.numbers[o + 2]!;
    }
    return this.listed.has(path.posix.dirname(rel)) ? null : undefined;
  }

  /** The names in a directory as scanned; undefined when it was not listed. */
  names(dirRel: string): readonly string[] | undefined {
    return this.listed.get(dirRel);
  }

  /** Entries written, removed or changed since the scan (forget()). */
  readonly forgotten = new Set<string>();

  /** `rel` was written, removed or changed: the scan no longer speaks for it or its directory. */
  forget(rel: string): void {
    this.forgotten.add(rel);
    this.rows.delete(rel);
    this.listed.delete(path.posix.dirname(rel));
    this.touched = true;
  }

  /**
   * Every entry's path, identity (inode, size, mtime, ctime), mode and owner as one digest, without the
   * entries `leaveOut` names. Any change to a file or directory changes its ctime, so an equal digest
   * means nothing in the trees changed. Undefined when it cannot say: something was written since the
   * scan, an entry changed less than a second before it (the same clock tick could hide a change), or an
   * entry is a symbolic link.
   */
  digest(leaveOut: (rel: string) => boolean): string | undefined {
    return this.touched ? undefined : this.digestWithout(leaveOut);
  }

  /** `rel`'s identity (identityOf) as scanned; null when it is known to be missing; undefined when the scan cannot say. */
  identity(rel: string): string | null | undefined {
    const row = this.rows.get(rel);
    if (row === undefined) return this.listed.has(path.posix.dirname(rel)) ? null : undefined;
    return identityOf(this.at(row));
  }

  /** Whether `rel` changed less than a second before the scan (racy()); undefined when it was not scanned. */
  isRacy(rel: string): boolean | undefined {
    const row = this.rows.get(rel);
    if (row === undefined) return undefined;
    const o = row * FIELDS;
    return racy({ mtimeMs: this.numbers[o + 2]!, ctimeMs: this.numbers[o + 3]! }, this.scannedAt);
  }

  /**
   * The digest of the entries as scanned, also after writes: `leaveOut` must name every entry written
   * or removed since the scan (and the directories that hold them), or the digest describes a tree that
   * is no longer on disk (which only makes a later comparison fail).
   */
  digestWithout(leaveOut: (rel: string) => boolean): string | undefined {
    const names: string[] = [];
    // The numbers as they are (float64), not as text: formatting 100 000 of them costs more than hashing.
    const kept = new Float64Array(this.paths.length * FIELDS);
    let k = 0;
    const n = this.numbers;
    for (let row = 0; row < this.paths.length; row++) {
      const rel = this.paths[row]!;
      if (leaveOut(rel)) continue;
      const o = row * FIELDS;
      if (racy({ mtimeMs: n[o + 2]!, ctimeMs: n[o + 3]! }, this.scannedAt)) return undefined;
      // A symbolic link's own identity says nothing of what it points to (the tool never makes one).
      if ((n[o + 4]! & constants.S_IFMT) === constants.S_IFLNK) return undefined;
      names.push(rel);
      for (let j = 0; j < FIELDS; j++) kept[k++] = n[o + j]!;
    }
    return createHash('sha256').update(names.join('\0')).update(kept.subarray(0, k)).digest('hex');
  }

  /** Writes tree.json when what it remembers changed (call holding the project lock). */
  save(): void {
    if (!this.changed) return;
    writeFileAtomic(path.join(this.dir, TREE_FILE), `${JSON.stringify({ dirs: this.remembered })}\n`, 0o600, { durable: false });
    this.changed = false;
  }
}

function loadListings(projectDir: string): Listings {
  return loadStateFile(projectDir, TREE)?.dirs ?? {}; // missing or of the wrong shape: every directory is read
}
