// Runs one stale step: a command into a temp file renamed into place, a rendered or copied file written
// only when its content differs, an in-place CA database change. Tells the project state what changed
// on disk and records the digest of every generated file it leaves behind.
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, renameSync, statSync, statfsSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fsyncFileAsync, writeFileAtomicAsync } from '../files/atomic.js';
import { INTERRUPTED, RunError } from '../errors.js';
import { run, type ExecResult } from '../programs/exec.js';
import type { Passphrase } from '../secrets/passphrase.js';
import { isCompletePem } from '../files/pem.js';
import { ALLOWLIST } from '../files/layout.js';
import { renderConf, renderEjs } from '../files/render.js';
import type { DiskState } from '../state/disk.js';
import type { ProjectState } from '../state/project.js';
import { sha256 } from '../state/records.js';
import type { ActionStep, ExecStep, Step } from '../plan/step.js';
import { CHANGED_OUTSIDE, recipeOf } from './staleness.js';

export interface ExecuteOptions {
  passphrase: Passphrase;
  signal?: AbortSignal;
  protect?: (step: ExecStep | ActionStep) => ((ok: boolean) => void) | undefined;
}

/** 'written': new content; 'unchanged': it already held it; 'repaired': put back as the tool last wrote it. */
export type Written = 'written' | 'unchanged' | 'repaired';

export class StepFailed extends RunError {
  constructor(message: string, readonly commandExit: number, detail: string) {
    super(message, detail);
  }
}

/** One line: the step, the exit status, the command and its first line of complaint; all its output as detail (-v). */
function commandFailed(step: ExecStep | ActionStep, r: ExecResult): StepFailed {
  const why = r.stderr.split('\n').map((l) => l.trim()).find(Boolean) ?? 'no message';
  return new StepFailed(
    `${step.title} failed (exit ${r.exitCode}): ${step.command.display}: ${why.slice(0, 300)} (-v shows all its output)`,
    r.exitCode,
    `${step.command.display}\n${r.stderr.trim()}`.trim(),
  );
}

function ensureParent(dir: string, file: string): void {
  const parent = path.dirname(path.join(dir, file));
  if (existsSync(parent)) return;
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  // certs/ and out/ hold keys: private whatever the umask. Inside out/ the bundle trees get the modes
  // their directories should have on the hosts (0755), since rsync copies directory modes too.
  for (let d = path.dirname(file); d !== '.' && d !== '/'; d = path.dirname(d)) {
    const top = d.split('/')[0]!;
    const priv = d === 'out' || top === 'certs' || top.startsWith('.');
    chmodSync(path.join(dir, d), priv ? 0o700 : 0o755);
  }
}

async function runCommand(step: ExecStep | ActionStep, dir: string, opts: ExecuteOptions): Promise<{ r: ExecResult; afterwards: ((ok: boolean) => void) | undefined }> {
  const input = step.command.passphraseOnStdin ? await opts.passphrase.get() : undefined;
  const afterwards = opts.protect?.(step);
  try {
    return { r: await run(step.command.argv, { cwd: dir, input, signal: opts.signal }), afterwards };
  } catch (err) {
    afterwards?.(false); // rolls back what the interrupted command did
    throw err;
  }
}

export async function execute(step: Step, state: DiskState, reason: string, opts: ExecuteOptions): Promise<Written> {
  const dir = state.dir;
  for (const o of step.outputs) ensureParent(dir, o);
  try {
    return await executeKind(step, state, reason, opts);
  } finally {
    for (const o of step.outputs) {
      state.invalidate(o);
      state.records.remade(o);
    }
    if (step.serial) state.databaseChanged(); // openssl ca rewrote index.txt and friends
  }
}

async function executeKind(step: Step, state: DiskState, reason: string, opts: ExecuteOptions): Promise<Written> {
  const dir = state.dir;
  switch (step.kind) {
    case 'action': {
      const { r, afterwards } = await runCommand(step, dir, opts);
      afterwards?.(r.exitCode === 0);
      if (r.exitCode !== 0) {
        if (opts.signal?.aborted) throw new RunError(INTERRUPTED);
        throw commandFailed(step, r);
      }
      return 'written';
    }
    case 'exec': {
      const out = path.join(dir, step.output);
      const tmp = path.join(dir, step.tmp);
      rmSync(tmp, { force: true });
      let ran;
      try {
        ran = await runCommand(step, dir, opts);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
      const { r, afterwards } = ran;
      // openssl may exit 0 after a short write on a full disk: only whole PEM goes into place.
      const whole = existsSync(tmp) && isCompletePem(readFileSync(tmp));
      try {
        afterwards?.(r.exitCode === 0 && whole);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
      if (r.exitCode !== 0) {
        rmSync(tmp, { force: true });
        if (opts.signal?.aborted) throw new RunError(INTERRUPTED);
        throw commandFailed(step, r);
      }
      if (!whole) {
        rmSync(tmp, { force: true });
        const full = diskAlmostFull(path.dirname(tmp));
        throw new StepFailed(
          `${step.output}: ${step.command.argv[0]} exited 0 but wrote ${full ? 'an incomplete file: no space left on the device; free some space and run again (finished files are kept)' : 'no complete PEM file; run with -v for the command and its output'}`,
          r.exitCode,
          `${step.command.display}\n${r.stderr.trim()}`.trim(),
        );
      }
      await fsyncFileAsync(tmp);
      chmodSync(tmp, step.mode);
      if (step.createOnly) {
        // link() fails if the key appeared meanwhile: an existing key is never replaced.
        try {
          linkSync(tmp, out);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
            throw new RunError(`${step.output} appeared while it was being made and is kept as it is; run again`);
          }
          throw err;
        } finally {
          rmSync(tmp, { force: true });
        }
      } else {
        renameSync(tmp, out);
      }
      if (step.id.startsWith('key:')) state.keyMade(step.output);
      return 'written';
    }
    case 'write': {
      const recipe = recipeOf(step);
      const context = step.derive ? { ...step.context, ...step.derive(state as ProjectState) } : step.context;
      const text =
        step.template.engine === 'conf'
          ? renderConf(step.template.name, context as Record<string, string>)
          : await renderEjs(step.template.name, context);
      // Whatever made the context: the allowlist never lists a key twice or a revoked one.
      if (step.output === ALLOWLIST) (state as ProjectState).checkAllowlist(text);
      const done = await putFile(state, step.output, Buffer.from(text), step.mode, step.createOnly, olderThanInputs(step, state), reason);
      state.records.setRecipe(step.output, recipe); // only once the file holds it: a failed write must be retried
      return done;
    }
    case 'copy':
      return await putFile(state, step.output, readFileSync(path.join(dir, step.source)), step.mode, false, true, reason);
  }
}

function diskAlmostFull(dir: string): boolean {
  try {
    const st = statfsSync(dir);
    return st.bavail * st.bsize < 256 * 1024;
  } catch {
    return false;
  }
}

function olderThanInputs(step: Step, state: DiskState): boolean {
  const t = state.mtime(step.outputs[0]!);
  return t !== undefined && step.inputs.some((i) => (state.mtime(i) ?? 0) > t);
}

/**
 * Writes `data` unless the file already holds exactly that. An identical file is only touched when it
 * was older than its inputs (so it counts as made from them); a changed recipe alone never touches it,
 * which keeps its dependents up to date. A file changed outside the tool and put back exactly as the
 * tool last wrote it gets its recorded time back, so that nothing made from it is made again.
 */
async function putFile(state: DiskState, rel: string, data: Buffer, mode: number, createOnly: boolean, touch: boolean, reason: string): Promise<Written> {
  const file = path.join(state.dir, rel);
  let current: Buffer | undefined;
  try {
    // A symlink at an output is replaced (rename), never read, chmod'ed or touched through.
    current = lstatSync(file).isSymbolicLink() ? undefined : readFileSync(file);
  } catch {
    current = undefined;
  }
  let done: Written;
  if (current !== undefined && (createOnly || current.equals(data))) {
    const now = new Date();
    if (!createOnly && touch) utimesSync(file, now, now);
    chmodSync(file, mode);
    done = 'unchanged';
  } else {
    const was = state.records.get(rel);
    await writeFileAtomicAsync(file, data, mode);
    done = 'written';
    if (reason.endsWith(CHANGED_OUTSIDE) && was && was.sha256 === sha256(data)) {
      utimesSync(file, was.mtimeMs / 1000, was.mtimeMs / 1000);
      done = 'repaired';
    }
  }
  if (!createOnly) state.records.record(rel, data, statSync(file));
  return done;
}
