// "Nothing can have become stale": the last run that left every step of a plain build up to date
// leaves its plan's key (plan/key.ts), the digest of the trees as it left them (files/tree.ts) and the
// identity of the records it left (state.json). A later run that finds all three as they were has
// nothing to do, without making the plan, reading the records or asking about each step. Any change in
// the trees (a file written, touched, chmod'ed, added or removed) changes the digest; a missing or
// damaged file just means the long way.
//
// A run that wrote files leaves a stamp too: its entries ("fresh": what it wrote, the directories that
// hold them, the CA database openssl changed in place) are named with the identity they had when the run
// ended, and the digest covers the rest as scanned. Fresh entries changed less than a second ago, so
// they are compared by identity instead of the digest's "racy" rule, which still holds for the rest.
import { statSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { STATE_FILE, UP_TO_DATE_FILE } from '../files/layout.js';
import { loadStateFile, UP_TO_DATE } from '../files/state-files.js';
import { identityOf } from '../files/tree.js';

/** Fresh entries: their identity when the stamp was made, null for one that was gone. */
export type FreshEntries = Record<string, string | null>;

interface Stamp {
  plan: string;
  tree: string;
  records: string;
  fresh?: FreshEntries;
}

/** What the check needs of the trees as scanned now. */
export interface StampedTree {
  /** The digest leaving out the entries `leaveOut` names; undefined when it cannot say. */
  digest(leaveOut: (rel: string) => boolean): string | undefined;
  /** An entry's identity as scanned; null when it is missing; undefined when the scan cannot say. */
  identity(rel: string): string | null | undefined;
}

function recordsIdentity(projectDir: string): string | undefined {
  const st = statSync(path.join(projectDir, STATE_FILE), { throwIfNoEntry: false });
  return st && identityOf(st);
}

function readStamp(projectDir: string): Partial<Stamp> {
  return loadStateFile(projectDir, UP_TO_DATE) ?? {};
}

/**
 * The stamp's fresh entries when the trees, as scanned, are as the last up-to-date run with plan `plan`
 * left them (`isBookkeeping`: left out of the comparison); undefined when they are not.
 */
export function wasUpToDate(projectDir: string, plan: string, tree: StampedTree, isBookkeeping: (rel: string) => boolean): FreshEntries | undefined {
  const s = readStamp(projectDir);
  if (s.plan !== plan || typeof s.tree !== 'string' || s.records === undefined) return undefined;
  const fresh = s.fresh ?? {};
  for (const [rel, id] of Object.entries(fresh)) if (tree.identity(rel) !== id) return undefined;
  const d = tree.digest((rel) => isBookkeeping(rel) || Object.hasOwn(fresh, rel));
  if (d !== s.tree || s.records !== recordsIdentity(projectDir)) return undefined;
  return fresh;
}

/** Call after the records are saved, holding the project lock. */
export function saveUpToDate(projectDir: string, plan: string, tree: string, fresh: FreshEntries): void {
  const records = recordsIdentity(projectDir);
  if (records === undefined) return;
  const s = readStamp(projectDir);
  const freshText = JSON.stringify(fresh);
  if (s.plan === plan && s.tree === tree && s.records === records && JSON.stringify(s.fresh ?? {}) === freshText) return;
  writeFileAtomic(path.join(projectDir, UP_TO_DATE_FILE), `${JSON.stringify({ plan, tree, records, fresh } satisfies Stamp)}\n`, 0o600, { durable: false });
}
