// Executes a plan like make: a step runs when an output is missing or older than an input (or, for a
// rendered file, when its recipe changed), and is otherwise skipped. Independent steps may run in
// parallel up to `jobs`; steps sharing a `serial` lock (the CA database) run one at a time in plan order.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, renameSync, statSync, statfsSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fsyncFileAsync, writeFileAtomicAsync } from '../files/atomic.js';
import { appendAuditText, auditLine as formatAudit } from '../files/audit.js';
import { fsFailure, INTERRUPTED, RunError } from '../errors.js';
import { run, type ExecResult } from '../programs/exec.js';
import { AUDIT_LOG, STATE_FILE } from '../files/layout.js';
import type { Passphrase } from '../secrets/passphrase.js';
import { isCompletePem } from '../files/pem.js';
import { renderConf, renderEjs, templateSource } from '../files/render.js';
import { loadRecipes, saveRecipes, type Recipes } from '../state/recipes.js';
import { commandOf, type ActionStep, type ExecStep, type Step, type WriteStep } from '../plan/step.js';

export type RunEvent =
  | { type: 'start'; step: Step; reason: string }
  | { type: 'skip'; step: Step }
  | { type: 'done'; step: Step; ms: number; changed: boolean }
  | { type: 'fail'; step: Step; ms: number };

export interface RunOptions {
  projectDir: string;
  passphrase: Passphrase;
  jobs?: number;
  dryRun?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /**
   * Called before a command step runs; the function it returns is called right after the command
   * (before its output is put in place) with whether the command succeeded. It may undo what a failed
   * command did to files it shares with other steps (the CA database), and throw to fail the step.
   */
  protect?: (step: ExecStep | ActionStep) => ((ok: boolean) => void) | undefined;
}

export interface StepOutcome {
  step: Step;
  state: 'ran' | 'skipped' | 'would-run' | 'unchanged';
  reason?: string;
}

export interface RunResult {
  outcomes: StepOutcome[];
  /** Commands executed (exec steps), in plan order. */
  commands: string[];
  ms: number;
}

export function recipeOf(step: WriteStep): string {
  return createHash('sha256').update(templateSource(step.template)).update('\0').update(JSON.stringify(step.context)).digest('hex');
}

function mtime(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Why a step must run, or undefined when it is up to date. `changed` holds outputs rewritten earlier in this run. */
export function staleReason(step: Step, dir: string, recipes: Recipes, changed: ReadonlySet<string>): string | undefined {
  if (step.force !== undefined) return step.force;
  if (step.kind === 'action') return undefined; // runs only when asked for
  const outTimes = step.outputs.map((o) => mtime(path.join(dir, o)));
  const missing = step.outputs.find((_, i) => outTimes[i] === undefined);
  if (missing !== undefined) return `${missing} is missing`;
  if ((step.kind === 'exec' || step.kind === 'write') && step.createOnly) return undefined;
  const oldest = Math.min(...(outTimes as number[]));
  for (const input of step.inputs) {
    if (changed.has(input)) return `${input} was rebuilt`;
    const t = mtime(path.join(dir, input));
    if (t === undefined) return `${input} is missing`;
    if (t > oldest) return `${input} is newer`;
  }
  if (step.kind === 'write' && recipes[step.output] !== recipeOf(step)) return 'its settings or template changed';
  return undefined;
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

export async function runPlan(steps: readonly Step[], opts: RunOptions): Promise<RunResult> {
  const dir = opts.projectDir;
  const started = performance.now();
  const recipes = loadRecipes(dir);
  const recipesBefore = JSON.stringify(recipes);
  const changed = new Set<string>();
  const outcomes: (StepOutcome | undefined)[] = new Array(steps.length);
  const audit: (string | null | undefined)[] = new Array(steps.length);
  let flushed = 0;
  const flushAudit = () => {
    while (flushed < steps.length && audit[flushed] !== undefined) {
      const line = audit[flushed++];
      if (!line) continue;
      try {
        appendAuditText(dir, line);
      } catch (err) {
        throw fsFailure(err, AUDIT_LOG);
      }
    }
  };

  if (opts.dryRun) {
    for (const [i, step] of steps.entries()) {
      const reason = staleReason(step, dir, recipes, changed);
      if (reason) step.outputs.forEach((o) => changed.add(o));
      outcomes[i] = { step, state: reason ? 'would-run' : 'skipped', reason };
    }
    return finish();
  }

  // Scheduling: a step waits for the steps that produce its inputs and for earlier holders of its lock.
  const producer = new Map<string, number>();
  const lastHolder = new Map<string, number>();
  const deps = steps.map((step, i) => {
    const d = new Set<number>();
    for (const input of [...step.inputs, ...(step.after ?? [])]) {
      const p = producer.get(input);
      if (p !== undefined) d.add(p);
    }
    if (step.serial) {
      const prev = lastHolder.get(step.serial);
      if (prev !== undefined) d.add(prev);
      lastHolder.set(step.serial, i);
    }
    step.outputs.forEach((o) => producer.set(o, i));
    return [...d];
  });
  const done = new Set<number>();
  const running = new Map<number, Promise<void>>();
  const jobs = opts.jobs ?? 1;
  // NaN or 0 would schedule nothing and report success with nothing built.
  if (!Number.isInteger(jobs) || jobs < 1) throw new RangeError(`runPlan: jobs must be a whole number >= 1, not ${jobs}`);
  let failure: unknown;

  const runOne = async (i: number) => {
    const step = steps[i]!;
    const reason = staleReason(step, dir, recipes, changed);
    if (!reason) {
      outcomes[i] = { step, state: 'skipped' };
      audit[i] = null;
      opts.onEvent?.({ type: 'skip', step });
      return;
    }
    opts.onEvent?.({ type: 'start', step, reason });
    const t0 = performance.now();
    const startedAt = new Date().toISOString();
    try {
      let didChange: boolean;
      try {
        didChange = await execute(step, dir, recipes, opts);
      } catch (err) {
        if (opts.signal?.aborted) throw new RunError(INTERRUPTED); // a Ctrl-C reaches the child too
        throw fsFailure(err, step.outputs[0] ?? step.title);
      }
      const ms = performance.now() - t0;
      if (didChange) step.outputs.forEach((o) => changed.add(o));
      outcomes[i] = { step, state: didChange ? 'ran' : 'unchanged', reason };
      const cmd = commandOf(step);
      audit[i] = cmd ? auditLine(startedAt, step.id, cmd.display, ms, 0) : null;
      opts.onEvent?.({ type: 'done', step, ms, changed: didChange });
    } catch (err) {
      const ms = performance.now() - t0;
      const exit = err instanceof StepFailed ? err.commandExit : -1;
      const cmd = commandOf(step);
      audit[i] = cmd ? auditLine(startedAt, step.id, cmd.display, ms, exit) : null;
      opts.onEvent?.({ type: 'fail', step, ms });
      throw err;
    } finally {
      try {
        flushAudit();
      } catch (err) {
        failure ??= err;
      }
    }
  };

  try {
    let first = 0; // every step before it is done: scans start at the first unfinished step
    while (done.size < steps.length) {
      while (done.has(first)) first++;
      if (failure === undefined && !opts.signal?.aborted) {
        for (let i = first; i < steps.length && running.size < jobs; i++) {
          if (done.has(i) || running.has(i)) continue;
          if (!deps[i]!.every((d) => done.has(d))) continue;
          const p = runOne(i).then(
            () => {
              done.add(i);
              running.delete(i);
            },
            (err: unknown) => {
              failure ??= err;
              running.delete(i);
              done.add(i);
            },
          );
          running.set(i, p);
        }
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
  } finally {
    await Promise.allSettled(running.values());
    // Bookkeeping must not hide the failure that stopped the run (on a full disk both fail).
    try {
      flushAudit();
      if (JSON.stringify(recipes) !== recipesBefore) saveRecipes(dir, recipes);
    } catch (err) {
      failure ??= fsFailure(err, STATE_FILE);
    }
  }
  if (failure !== undefined) throw failure;
  if (opts.signal?.aborted) throw new RunError(INTERRUPTED);
  return finish();

  function finish(): RunResult {
    const done = outcomes.filter((o): o is StepOutcome => o !== undefined);
    return {
      outcomes: done,
      commands: done.filter((o) => o.state !== 'skipped').flatMap((o) => commandOf(o.step)?.display ?? []),
      ms: performance.now() - started,
    };
  }
}

function auditLine(start: string, step: string, command: string, ms: number, exit: number): string {
  return formatAudit({ start, step, command, durationMs: ms, exit });
}

class StepFailed extends RunError {
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

/** Runs one stale step. Returns false when the output was already right (nothing rewritten). */
async function execute(step: Step, dir: string, recipes: Recipes, opts: RunOptions): Promise<boolean> {
  for (const o of step.outputs) ensureParent(dir, o);
  switch (step.kind) {
    case 'action': {
      const input = step.command.passphraseOnStdin ? await opts.passphrase.get() : undefined;
      const afterwards = opts.protect?.(step);
      let r;
      try {
        r = await run(step.command.argv, { cwd: dir, input, signal: opts.signal });
      } catch (err) {
        afterwards?.(false);
        throw err;
      }
      afterwards?.(r.exitCode === 0);
      if (r.exitCode !== 0) {
        if (opts.signal?.aborted) throw new RunError(INTERRUPTED);
        throw commandFailed(step, r);
      }
      return true;
    }
    case 'exec': {
      const out = path.join(dir, step.output);
      const tmp = path.join(dir, step.tmp);
      rmSync(tmp, { force: true });
      const input = step.command.passphraseOnStdin ? await opts.passphrase.get() : undefined;
      const afterwards = opts.protect?.(step);
      let r;
      try {
        r = await run(step.command.argv, { cwd: dir, input, signal: opts.signal });
      } catch (err) {
        rmSync(tmp, { force: true });
        afterwards?.(false); // rolls back what the interrupted command did
        throw err;
      }
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
      return true;
    }
    case 'write': {
      const out = path.join(dir, step.output);
      const recipe = recipeOf(step);
      const context = step.derive ? { ...step.context, ...step.derive(dir) } : step.context;
      const text =
        step.template.engine === 'conf'
          ? renderConf(step.template.name, context as Record<string, string>)
          : await renderEjs(step.template.name, context);
      const changed = await putFile(out, Buffer.from(text), step.mode, step.createOnly, olderThanInputs(step, dir));
      recipes[step.output] = recipe; // only once the file holds it: a failed write must be retried
      return changed;
    }
    case 'copy':
      return await putFile(path.join(dir, step.output), readFileSync(path.join(dir, step.source)), step.mode, false, true);
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

function olderThanInputs(step: Step, dir: string): boolean {
  const t = mtime(path.join(dir, step.outputs[0]!));
  return t !== undefined && step.inputs.some((i) => (mtime(path.join(dir, i)) ?? 0) > t);
}

/**
 * Writes `data` unless the file already holds exactly that. An identical file is only touched when it
 * was older than its inputs (so it counts as made from them); a changed recipe alone never touches it,
 * which keeps its dependents up to date.
 */
async function putFile(file: string, data: Buffer, mode: number, createOnly: boolean, touch: boolean): Promise<boolean> {
  let current: Buffer | undefined;
  try {
    // A symlink at an output is replaced (rename), never read, chmod'ed or touched through.
    current = lstatSync(file).isSymbolicLink() ? undefined : readFileSync(file);
  } catch {
    current = undefined;
  }
  if (current !== undefined && (createOnly || current.equals(data))) {
    const now = new Date();
    if (!createOnly && touch) utimesSync(file, now, now);
    chmodSync(file, mode);
    return false;
  }
  await writeFileAtomicAsync(file, data, mode);
  return true;
}
