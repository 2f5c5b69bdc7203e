// Like ssh with ~/.ssh: the project is refused when another user could change it, since whatever is
// in certs/, etc/ and out/ is shipped to the hosts and installed as root. A directory or file must be
// owned by the user running the tool (or by root) and writable by nobody else.
import { lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { RunError } from '../errors.js';
import { AUDIT_LOG, STATE_DIR } from './layout.js';

/** The trees the tool writes, relative to the project directory. */
export const PROJECT_TREES = ['certs', 'etc', 'out', STATE_DIR, 'archive'];
/** Files the tool writes or reads at the top of the project. */
const PROJECT_FILES = ['settings.mk', AUDIT_LOG];

const shown = (file: string) => path.relative(process.cwd(), file) || file;

function problem(file: string, st: Stats, uid: number): string | undefined {
  if (st.uid !== uid && st.uid !== 0) {
    return `${shown(file)}: owned by uid ${st.uid}, not by you (uid ${uid}) or root, so another user can change what is built and shipped; `
      + `chown ${uid === 0 ? 'root' : uid} ${shown(file)} (-R for a directory) if it is yours, or start over in a directory of your own`;
  }
  if (st.mode & 0o022) {
    const who = st.mode & 0o002 ? 'everyone' : 'its group';
    return `${shown(file)}: writable by ${who} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}), so another user can change what is built and shipped; `
      + `chmod go-w ${shown(file)}${st.isDirectory() ? ' (and check what is in it)' : ''}`;
  }
  return undefined;
}

function statOrUndefined(file: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(file) : lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RunError(`${shown(file)}: cannot read (${(err as NodeJS.ErrnoException).code}); check its permissions`);
  }
}

/** Every directory and file under `dir` (symbolic links are not followed: they are replaced, never written through). */
function walk(dir: string, uid: number): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined; // unreadable: the command that needs it says so
  }
  for (const n of names) {
    const f = path.join(dir, n);
    const st = statOrUndefined(f, false);
    if (!st || st.isSymbolicLink()) continue;
    const p = problem(f, st, uid);
    if (p) return p;
    if (st.isDirectory()) {
      const deeper = walk(f, uid);
      if (deeper) return deeper;
    }
  }
  return undefined;
}

/**
 * Refuses (exit 1, one line with the fix) a project directory, a tree in it or a file in them that
 * another user owns or can write. `settingsFile` is checked too when it lies elsewhere.
 */
export function checkProjectOwnership(projectDir: string, settingsFile?: string): void {
  const uid = process.geteuid?.() ?? 0;
  const top = statOrUndefined(projectDir, true);
  if (!top) return; // not made yet (init, demo)
  const fail = (p: string | undefined) => {
    if (p) throw new RunError(p);
  };
  fail(problem(projectDir, top, uid));
  const files = [...PROJECT_FILES.map((f) => path.join(projectDir, f)), ...(settingsFile ? [path.resolve(settingsFile)] : [])];
  for (const f of new Set(files)) {
    const st = statOrUndefined(f, true);
    if (st) fail(problem(f, st, uid));
  }
  // The tool appends to audit.log: a link there would make it append to whatever it points to.
  const audit = path.join(projectDir, AUDIT_LOG);
  if (statOrUndefined(audit, false)?.isSymbolicLink()) {
    throw new RunError(`${shown(audit)}: a symbolic link, and postfix-tls-relay never appends through one; remove it (rm ${shown(audit)}) and run again`);
  }
  for (const t of PROJECT_TREES) {
    const dir = path.join(projectDir, t);
    const st = statOrUndefined(dir, true); // a symlinked out/ is judged by where it points
    if (!st) continue;
    fail(problem(dir, st, uid));
    if (st.isDirectory()) fail(walk(dir, uid));
  }
}
