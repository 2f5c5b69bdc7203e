// "Nothing can have become stale": the last run that found every step of a plain build up to date
// leaves its plan's key (plan/key.ts), the digest of the trees it scanned (files/tree.ts) and the identity
// of the records it left (state.json). A later run that finds all three as they were has nothing to do,
// without making the plan, reading the records or asking about each step. Any change in the trees
// (a file written, touched, chmod'ed, added or removed) changes the digest; a missing or damaged file
// just means the long way.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { STATE_FILE, UP_TO_DATE_FILE } from '../files/layout.js';
import { identityOf } from '../files/tree.js';

interface Stamp {
  plan: string;
  tree: string;
  records: string;
}

function recordsIdentity(projectDir: string): string | undefined {
  const st = statSync(path.join(projectDir, STATE_FILE), { throwIfNoEntry: false });
  return st && identityOf(st);
}

function readStamp(projectDir: string): Partial<Stamp> {
  try {
    return JSON.parse(readFileSync(path.join(projectDir, UP_TO_DATE_FILE), 'utf8')) as Partial<Stamp>;
  } catch {
    return {};
  }
}

export function wasUpToDate(projectDir: string, plan: string, tree: string): boolean {
  const s = readStamp(projectDir);
  return s.plan === plan && s.tree === tree && s.records !== undefined && s.records === recordsIdentity(projectDir);
}

/** Call after the records are saved, holding the project lock. */
export function saveUpToDate(projectDir: string, plan: string, tree: string): void {
  const records = recordsIdentity(projectDir);
  if (records === undefined) return;
  const s = readStamp(projectDir);
  if (s.plan === plan && s.tree === tree && s.records === records) return;
  writeFileAtomic(path.join(projectDir, UP_TO_DATE_FILE), `${JSON.stringify({ plan, tree, records } satisfies Stamp)}\n`, 0o600, { durable: false });
}
