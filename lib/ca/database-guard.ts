// Keeps the CA database (index.txt, index.txt.attr), which openssl ca rewrites on every signature, whole
// across kills and full disks.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { fsFailure, RunError } from '../errors.js';
import { caFiles } from '../files/layout.js';
import type { Settings } from '../settings/index.js';

/**
 * openssl ca replaces index.txt by renaming it to .old and index.txt.new into place. Killed between the
 * two renames, index.txt is missing while .new holds the complete database: finish the rename instead
 * of letting the build start an empty database. Returns the files restored. Call holding the lock.
 */
export function completeDatabaseRename(s: Settings, dir: string): string[] {
  const ca = caFiles(s);
  const restored: string[] = [];
  for (const f of [ca.index, ca.indexAttr]) {
    const file = path.join(dir, f);
    if (existsSync(file) || !existsSync(`${file}.new`)) continue;
    try {
      renameSync(`${file}.new`, file);
    } catch (err) {
      throw fsFailure(err, f, 'cannot restore the CA database');
    }
    restored.push(f);
  }
  return restored;
}

/**
 * Makes one `openssl ca` run all or nothing for the CA database. openssl does not check its writes:
 * on a full disk it renames an empty index.txt.new over index.txt and reports "Database updated".
 * The returned function, called after the command with whether its output is whole, rolls the
 * database back to the snapshot when the step failed or the database was damaged (from index.txt.old
 * when that is the snapshot: a rename needs no free space), and removes the certificates openssl
 * archived in newcerts/ meanwhile. A damaged database is an error of its own.
 */
export function protectCaDatabase(s: Settings, dir: string): (ok: boolean) => void {
  const ca = caFiles(s);
  const files = [ca.index, ca.indexAttr];
  const before = files.map((f) => readOrUndefined(path.join(dir, f)));
  const archived = new Set(list(path.join(dir, ca.newcerts)));
  return (ok) => {
    const damaged = files.filter((f, i) => {
      const was = before[i];
      if (was === undefined) return false;
      const now = readOrUndefined(path.join(dir, f));
      if (now === undefined) return true;
      if (f === ca.indexAttr) return !now.equals(was); // openssl writes the same settings back
      // Signing appends an entry, revoking changes one in place: every entry must stay, well-formed.
      const serials = (b: Buffer) => b.toString('utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
      const after = serials(now);
      if (!after.every((e) => e.length === 6)) return true;
      const kept = new Set(after.map((e) => e[3]));
      return !serials(was).every((e) => kept.has(e[3]));
    });
    if (ok && damaged.length === 0) return;
    try {
      files.forEach((f, i) => {
        const was = before[i];
        const file = path.join(dir, f);
        if (was === undefined || readOrUndefined(file)?.equals(was)) return;
        if (readOrUndefined(`${file}.old`)?.equals(was)) renameSync(`${file}.old`, file);
        else writeFileAtomic(file, was, 0o600);
      });
      for (const n of list(path.join(dir, ca.newcerts))) if (!archived.has(n)) rmSync(path.join(dir, ca.newcerts, n), { force: true });
    } catch (err) {
      throw fsFailure(err, ca.index, `openssl ca failed and the CA database could not be rolled back; copy ${ca.index}.old (or your backup) to ${ca.index} before running again`);
    }
    if (damaged.length) {
      throw new RunError(`${damaged.join(', ')}: openssl ca left the CA database damaged (disk full?); the previous database was restored; free some space and run again`);
    }
  };
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readOrUndefined(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}
