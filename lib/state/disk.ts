// The project directory as this session has seen it: each file read or stat'ed at most once, and
// forgotten when the runner (or a command through it) writes it. With the records of what the tool
// wrote, it answers "is this generated file still ours?" without re-reading unchanged files.
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { RunError } from '../errors.js';
import { CERT_FACTS_FILE, LOCK_FILE, STATE_DIR, STATE_FILE, TREE_FILE, UP_TO_DATE_FILE } from '../files/layout.js';
import { identityOf, ProjectTree, type FileStats } from '../files/tree.js';
import { Records, type Verdict } from './records.js';
import { saveUpToDate, wasUpToDate, type FreshEntries } from './up-to-date.js';

/** The most entries a stamp names by identity (an add-client names about 40). */
const MAX_FRESH = 500;

type Read = { data: Buffer } | { missing: true } | { error: NodeJS.ErrnoException };

/** What every run writes, whatever it builds: left out of the trees' digest. */
const BOOKKEEPING = new Set([STATE_DIR, STATE_FILE, TREE_FILE, UP_TO_DATE_FILE, CERT_FACTS_FILE, LOCK_FILE]);
const bookkeeping = (rel: string) => BOOKKEEPING.has(rel) || rel.startsWith(`${STATE_DIR}/.`);

export class DiskState {
  private readonly reads = new Map<string, Read>();
  private readonly stats = new Map<string, FileStats | null>();
  private readonly ids = new Map<string, string>();

  private loaded: Records | undefined;
  /** A plan found up to date in this run (its key), remembered when the records are saved. */
  private upToDateKey: string | undefined;
  /** What changedSinceScan() said when the plan was found up to date (the stamp names it). */
  private upToDateChanged: ReadonlySet<string> | undefined;
  /** The fresh entries of the stamp this run's trees matched (up-to-date.ts): still vouched for by identity. */
  private vouched: FreshEntries = {};
  /** Directories a program changed in place: 'all' of their entries, or the ones 'added' since the scan. */
  private readonly changedDirs = new Map<string, 'all' | 'added'>();

  constructor(
    readonly dir: string,
    records?: Records,
    /** The project's trees as scanned when the state was read: file times come from it. */
    readonly tree: ProjectTree = ProjectTree.scan(dir),
  ) {
    this.loaded = records;
  }

  /** What the tool wrote (state.json): read when first asked, which a build with nothing to do never does. */
  get records(): Records {
    this.loaded ??= Records.load(this.dir);
    return this.loaded;
  }

  private load(rel: string): Read {
    let r = this.reads.get(rel);
    if (r === undefined) {
      try {
        r = { data: readFileSync(path.join(this.dir, rel)) };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        r = e.code === 'ENOENT' || e.code === 'ENOTDIR' ? { missing: true } : { error: e };
      }
      this.reads.set(rel, r);
    }
    return r;
  }

  /** The file's bytes, undefined when it is missing or unreadable. */
  read(rel: string): Buffer | undefined {
    const r = this.load(rel);
    return 'data' in r ? r.data : undefined;
  }

  /** The file's bytes, undefined only when it is missing; unreadable is an error naming the file. */
  readChecked(rel: string): Buffer | undefined {
    const r = this.load(rel);
    if ('error' in r) throw new RunError(`${rel}: cannot read (${r.error.code}); check its permissions`);
    return 'data' in r ? r.data : undefined;
  }

  text(rel: string): string | undefined {
    return this.read(rel)?.toString('utf8');
  }

  stat(rel: string): FileStats | undefined {
    const scanned = this.tree.lookup(rel);
    // The scan is the cache (an object made per ask dies young; thousands kept would not).
    if (scanned === null || (scanned && !scanned.isSymbolicLink())) return scanned ?? undefined;
    let st = this.stats.get(rel);
    if (st === undefined) {
      try {
        st = statSync(path.join(this.dir, rel)); // outside the trees, or a symbolic link: followed, as before
      } catch {
        st = null;
      }
      this.stats.set(rel, st);
    }
    return st ?? undefined;
  }

  exists(rel: string): boolean {
    return this.stat(rel) !== undefined;
  }

  mtime(rel: string): number | undefined {
    const t = this.tree.mtimeOf(rel);
    return t === undefined ? this.stat(rel)?.mtimeMs : (t ?? undefined);
  }

  /** Whether a generated file is still what the tool wrote (see Records.verify). */
  verify(rel: string): Verdict | 'missing' {
    const st = this.stat(rel);
    if (!st) return 'missing';
    return this.records.verify(rel, st, () => this.read(rel));
  }

  /** The files' identities (inode, size, mtime, ctime) as one string; undefined when one is missing. */
  identities(rels: readonly string[]): string | undefined {
    const parts: string[] = [];
    for (const rel of rels) {
      let id = this.ids.get(rel);
      if (id === undefined) {
        const st = this.stat(rel);
        if (!st) return undefined;
        id = identityOf(st);
        this.ids.set(rel, id); // the CA certificate's is asked for once per host
      }
      parts.push(id);
    }
    return parts.join(' ');
  }

  /** Did the check `tag` pass on exactly these files as they are now? */
  remembered(tag: string, rels: readonly string[]): boolean {
    const ids = this.identities(rels);
    return ids !== undefined && this.records.wasChecked(tag, ids);
  }

  /** The check `tag` passed on these files as they are now. */
  remember(tag: string, rels: readonly string[]): void {
    const ids = this.identities(rels);
    if (ids !== undefined) this.records.markChecked(tag, ids);
  }

  /** Nothing in the trees changed since a run with the plan `key` left every step up to date. */
  upToDate(key: string): boolean {
    const fresh = wasUpToDate(this.dir, key, this.tree, bookkeeping);
    if (fresh === undefined) return false;
    this.vouched = fresh;
    return true;
  }

  /**
   * Every step of the plan `key` is up to date as this run leaves the trees: remembered on save.
   * `changed`: changedSinceScan() as the caller just asked it (nothing written since).
   */
  markUpToDate(key: string, changed?: ReadonlySet<string>): void {
    this.upToDateKey = key;
    this.upToDateChanged = changed;
  }

  /** A program changed entries of `dir` in place (openssl ca: the CA database): they are not as scanned. */
  protected changedInPlace(dir: string, which: 'all' | 'added'): void {
    this.changedDirs.set(dir, which);
  }

  /**
   * Entries that are not as scanned: what this run wrote or removed, what programs changed in place, and
   * every directory above them; the stamp names them with their identity instead of digesting them.
   */
  changedSinceScan(): Set<string> {
    const rels = new Set<string>();
    const withDirs = (rel: string) => {
      rels.add(rel);
      for (let d = path.posix.dirname(rel); d !== '.' && !rels.has(d); d = path.posix.dirname(d)) rels.add(d);
    };
    for (const rel of this.tree.forgotten) withDirs(rel);
    for (const [dir, which] of this.changedDirs) {
      withDirs(dir);
      const scanned = this.tree.names(dir);
      let now: string[] = [];
      try {
        now = readdirSync(path.join(this.dir, dir));
      } catch {
        // gone: its entries as scanned are named below
      }
      const before = new Set(scanned);
      for (const n of which === 'all' || scanned === undefined ? [...now, ...before] : now.filter((x) => !before.has(x))) rels.add(`${dir}/${n}`);
    }
    return rels;
  }

  /** The stamp's entries named by identity (see changedSinceScan), and the digest of the rest. */
  private stampOfTrees(): { tree: string; fresh: FreshEntries } | undefined {
    const rels = new Set(this.upToDateChanged ?? this.changedSinceScan());
    // Entries the last stamp vouched for, still too new for the digest: vouched for again.
    for (const rel of Object.keys(this.vouched)) if (!rels.has(rel) && this.tree.isRacy(rel) !== false) rels.add(rel);
    // A first build of a fleet writes everything: its stamp would name every entry. The next run, a
    // second later, stamps by the digest alone.
    if (rels.size > MAX_FRESH) return undefined;
    const tree = this.tree.digestWithout((rel) => bookkeeping(rel) || rels.has(rel));
    if (tree === undefined) return undefined;
    const fresh: FreshEntries = {};
    for (const rel of [...rels].sort()) {
      if (bookkeeping(rel)) continue;
      const st = lstatSync(path.join(this.dir, rel), { throwIfNoEntry: false });
      fresh[rel] = st ? identityOf(st) : null;
    }
    return { tree, fresh };
  }

  /** The file changed on disk (written by the runner or a command): read it again when asked. */
  invalidate(rel: string): void {
    this.reads.delete(rel);
    this.stats.delete(rel);
    this.ids.delete(rel);
    this.tree.forget(rel);
    this.forgetFacts(rel);
  }

  /** Derived facts (parsed certificates, the CA database) that depend on a file. */
  protected forgetFacts(_rel: string): void {}

  /** The runner made a new private key at `rel` (ProjectState records whose key it is). */
  keyMade(_rel: string): void {}

  /** openssl ca rewrote the CA database in place. */
  databaseChanged(): void {}

  /** Writes the records of what the tool wrote, when they changed. */
  save(): void {
    this.loaded?.save(this.dir);
    this.tree.save();
    const stamp = this.upToDateKey === undefined ? undefined : this.stampOfTrees();
    if (stamp) saveUpToDate(this.dir, this.upToDateKey!, stamp.tree, stamp.fresh);
  }
}
