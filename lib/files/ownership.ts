// Like ssh with ~/.ssh: the project is refused when another user could change it, since whatever is
// in certs/, etc/ and out/ is shipped to the hosts and installed as root. A directory or file must be
// owned by the user running the tool (or by root) and writable by nobody else.
import { constants, lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { RunError } from '../errors.js';
import { AUDIT_LOG, shownPath as shown } from './layout.js';
import { PROJECT_TREES, ProjectTree, type FileStats } from './tree.js';

/** Files the tool writes or reads at the top of the project. */
const PROJECT_FILES = ['settings.mk', AUDIT_LOG];


/** Owned by `uid` or root, and writable by nobody else. */
const safe = (owner: number, mode: number, uid: number) => (owner === uid || owner === 0) && !(mode & 0o022);

function problem(file: string, st: FileStats, uid: number): string | undefined {
  if (safe(st.uid, st.mode, uid)) return undefined;
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

/** A symbolic link or a special file (FIFO, socket, device) below the roots: never read, written, moved or shipped through. */
function notPlain(file: string, type: number): string {
  if (type === constants.S_IFLNK) {
    let target = '?';
    try {
      target = readlinkSync(file);
    } catch {
      // gone meanwhile: the line still names it
    }
    return `${shown(file)}: a symbolic link (to ${target}), and postfix-tls-relay never reads, writes, moves or ships anything through one; `
      + `put the file or directory itself there (or remove the link and run postfix-tls-relay build to make it again)`;
  }
  return `${shown(file)}: not a regular file or directory (a FIFO, socket or device), so it is never read or shipped; remove it and run postfix-tls-relay build to make it again`;
}

/**
 * The first entry of the scanned trees that another user owns or can write, or that is a symbolic link
 * or a special file (the roots themselves are judged by where they point: see checkProjectTop).
 */
export function treeProblem(tree: ProjectTree): string | undefined {
  const uid = process.geteuid?.() ?? 0;
  let found: string | undefined;
  tree.someEntry((rel, mode, owner) => {
    const type = mode & constants.S_IFMT;
    const plain = type === constants.S_IFREG || type === constants.S_IFDIR;
    if (plain && safe(owner, mode, uid)) return false; // the common case, without an object per entry
    found = plain ? problem(path.join(tree.dir, rel), tree.lookup(rel)!, uid) : notPlain(path.join(tree.dir, rel), type);
    return found !== undefined;
  });
  return found;
}

/**
 * Refuses (exit 1, one line with the fix) a project directory or a file at its top (settings.mk,
 * audit.log) that another user owns or can write. `settingsFile` is checked too when it lies elsewhere.
 * What is in the trees is checked by whoever scans them (the project state, checkProjectOwnership).
 */
export function checkProjectTop(projectDir: string, settingsFile?: string): void {
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
  // The trees themselves too (not what is in them): the lock is taken in one of them.
  for (const t of PROJECT_TREES) {
    const dir = path.join(projectDir, t);
    const st = statOrUndefined(dir, true); // a symlinked out/ is judged by where it points
    if (st) fail(problem(dir, st, uid));
  }
}

/** The same with every directory and file in the project's trees (init, and anything not reading the state). */
export function checkProjectOwnership(projectDir: string, settingsFile?: string): void {
  checkProjectTop(projectDir, settingsFile);
  checkTreeOwnership(ProjectTree.scan(projectDir));
}

export function checkTreeOwnership(tree: ProjectTree): void {
  const p = treeProblem(tree);
  if (p) throw new RunError(p);
}

/**
 * Refuses (exit 1) a symbolic link at any directory of `rel` below the project (one lstat each): for the
 * few writes made before the trees are scanned (the CA database's interrupted rename).
 */
export function refuseLinkedDirs(projectDir: string, rel: string): void {
  let d = '';
  for (const part of rel.split('/').slice(0, -1)) {
    d = d ? `${d}/${part}` : part;
    const st = statOrUndefined(path.join(projectDir, d), false);
    if (!st) return;
    if (st.isSymbolicLink() && d.includes('/')) throw new RunError(notPlain(path.join(projectDir, d), constants.S_IFLNK));
  }
}
