// Prerequisites of the hardening tests beyond the lab's: mounting a tmpfs (full disk, read-only
// directory) and tracing with strace. Checked by really doing it once.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findCommand } from './lab.js';

export interface Check {
  ok: boolean;
  missing: string[];
}

let mountCheck: Check | undefined;
export function canMount(): Check {
  if (mountCheck) return mountCheck;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-mount-probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', dir], { stdio: 'ignore' });
  if (r.status === 0) spawnSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  mountCheck = r.status === 0 ? { ok: true, missing: [] } : { ok: false, missing: ['permission to mount a tmpfs (root with CAP_SYS_ADMIN)'] };
  return mountCheck;
}

export function canStrace(): Check {
  if (!findCommand('strace')) return { ok: false, missing: ['strace'] };
  const r = spawnSync('strace', ['-qq', '-o', '/dev/null', 'true'], { stdio: 'ignore' });
  return r.status === 0 ? { ok: true, missing: [] } : { ok: false, missing: ['permission to ptrace (strace)'] };
}
