// The project directory as this session has seen it: each file read or stat'ed at most once, and
// forgotten when the runner (or a command through it) writes it. With the records of what the tool
// wrote, it answers "is this generated file still ours?" without re-reading unchanged files.
import { readFileSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { RunError } from '../errors.js';
import { Records, type Verdict } from './records.js';

type Read = { data: Buffer } | { missing: true } | { error: NodeJS.ErrnoException };

export class DiskState {
  private readonly reads = new Map<string, Read>();
  private readonly stats = new Map<string, Stats | null>();

  constructor(
    readonly dir: string,
    readonly records: Records = Records.load(dir),
  ) {}

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

  stat(rel: string): Stats | undefined {
    let st = this.stats.get(rel);
    if (st === undefined) {
      try {
        st = statSync(path.join(this.dir, rel));
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
    return this.stat(rel)?.mtimeMs;
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
      const st = this.stat(rel);
      if (!st) return undefined;
      parts.push(`${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`);
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

  /** The file changed on disk (written by the runner or a command): read it again when asked. */
  invalidate(rel: string): void {
    this.reads.delete(rel);
    this.stats.delete(rel);
    this.forgetFacts(rel);
  }

  /** Derived facts (parsed certificates, the CA database) that depend on a file. */
  protected forgetFacts(_rel: string): void {}

  /** openssl ca rewrote the CA database in place. */
  databaseChanged(): void {}

  /** Writes the records of what the tool wrote, when they changed. */
  save(): void {
    this.records.save(this.dir);
  }
}
