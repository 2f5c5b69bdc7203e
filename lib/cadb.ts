// The CA database after a killed `openssl ca`: openssl replaces index.txt by renaming it to .old and
// index.txt.new into place. Killed between the two renames, index.txt is missing while .new holds the
// complete database; finish the rename instead of letting the build start an empty database.
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fsFailure } from './errors.js';
import { caFiles } from './layout.js';
import type { Settings } from './settings/index.js';

/** Returns the database files it restored (relative paths). Call while holding the project lock. */
export function finishInterruptedRotation(s: Settings, dir: string): string[] {
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
