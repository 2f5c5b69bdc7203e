// Executes a plan like make: a step runs when the staleness query says so (staleness.ts) and is
// otherwise skipped. Independent steps may run in parallel up to `jobs`; steps sharing a `serial` lock
// (the CA database) run one at a time in plan order. The project state is told of every write.
import { appendAuditText, auditLine as formatAudit } from '../files/audit.js';
import { fsFailure, INTERRUPTED, RunError } from '../errors.js';
import { AUDIT_LOG, STATE_FILE } from '../files/layout.js';
import type { Passphrase } from '../secrets/passphrase.js';
import { DiskState } from '../state/disk.js';
import { commandOf, type ActionStep, type ExecStep, type Step } from '../plan/step.js';
import { execute, StepFailed } from './execute.js';
import { staleReason, upToDateAfter } from './staleness.js';

export { recipeOf, staleReason } from './staleness.js';

export type RunEvent =
  | { type: 'start'; step: Step; reason: string }
  | { type: 'skip'; step: Step }
  | { type: 'done'; step: Step; ms: number; changed: boolean }
  | { type: 'fail'; step: Step; ms: number };

export interface RunOptions {
  projectDir: string;
  passphrase: Passphrase;
  /** The project state to consult and keep current; by default the directory as found. */
  state?: DiskState;
  jobs?: number;
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /**
   * Called before a command step runs; the function it returns is called right after the command
   * (before its output is put in place) with whether the command succeeded. It may undo what a failed
   * command did to files it shares with other steps (the CA database), and throw to fail the step.
   */
  protect?: (step: ExecStep | ActionStep) => ((ok: boolean) => void) | undefined;
  /**
   * The steps the staleness query found stale just before the run (pendingSteps, which counts every
   * output of a stale step as rebuilt). Every other step's inputs cannot change in this run, so it is
   * skipped without being asked again; without this set, every step is asked.
   */
  pending?: ReadonlySet<Step>;
  /**
   * A plain build's plan key: when the run leaves every step up to date, the state remembers it on save
   * (state/up-to-date.ts), and the next run knows it without asking each step.
   */
  key?: string;
}

export interface StepOutcome {
  step: Step;
  state: 'ran' | 'skipped' | 'unchanged';
  reason?: string;
}

export interface RunResult {
  outcomes: StepOutcome[];
  /** Commands executed (exec steps), in plan order. */
  commands: string[];
  ms: number;
}

/** A step waits for the steps that produce its inputs and for earlier holders of its lock. */
function dependencies(steps: readonly Step[]): number[][] {
  const producer = new Map<string, number>();
  const lastHolder = new Map<string, number>();
  return steps.map((step, i) => {
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
}

export async function runPlan(steps: readonly Step[], opts: RunOptions): Promise<RunResult> {
  const state = opts.state ?? new DiskState(opts.projectDir);
  const dir = state.dir;
  const started = performance.now();
  const changed = new Set<string>();
  const outcomes: (StepOutcome | undefined)[] = new Array(steps.length);
  const audit: (string | null | undefined)[] = new Array(steps.length);
  let flushed = 0;
  const flushAudit = () => {
    while (flushed < steps.length && audit[flushed] !== undefined) {
      const line = audit[flushed++];
      if (!line) continue;
      try {
        appendAuditText(dir, line); // O_NOFOLLOW: never through a planted symlink
      } catch (err) {
        throw fsFailure(err, AUDIT_LOG);
      }
    }
  };

  const deps = dependencies(steps);
  const done = new Set<number>();
  const running = new Map<number, Promise<void>>();
  const jobs = opts.jobs ?? 1;
  // NaN or 0 would schedule nothing and report success with nothing built.
  if (!Number.isInteger(jobs) || jobs < 1) throw new RangeError(`runPlan: jobs must be a whole number >= 1, not ${jobs}`);
  let failure: unknown;

  const runOne = async (i: number) => {
    const step = steps[i]!;
    const reason = staleReason(step, state, changed);
    if (!reason) {
      outcomes[i] = { step, state: 'skipped' };
      audit[i] = null;
      opts.onEvent?.({ type: 'skip', step });
      return;
    }
    opts.onEvent?.({ type: 'start', step, reason });
    const t0 = performance.now();
    const startedAt = new Date().toISOString();
    const cmd = commandOf(step);
    try {
      let written;
      try {
        written = await execute(step, state, reason, opts);
      } catch (err) {
        if (opts.signal?.aborted) throw new RunError(INTERRUPTED); // a Ctrl-C reaches the child too
        throw fsFailure(err, step.outputs[0] ?? step.title);
      }
      const ms = performance.now() - t0;
      // A repaired file is as its dependents were made from: they stay up to date.
      if (written === 'written') step.outputs.forEach((o) => changed.add(o));
      outcomes[i] = { step, state: written === 'unchanged' ? 'unchanged' : 'ran', reason };
      audit[i] = cmd ? auditLine(startedAt, step.id, cmd.display, ms, 0) : null;
      opts.onEvent?.({ type: 'done', step, ms, changed: written !== 'unchanged' });
    } catch (err) {
      const ms = performance.now() - t0;
      const exit = err instanceof StepFailed ? err.commandExit : -1;
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
          if (opts.pending && !opts.pending.has(steps[i]!)) {
            // Known to be skipped: done here, in order, without a turn of the scheduler per step.
            outcomes[i] = { step: steps[i]!, state: 'skipped' };
            audit[i] = null;
            opts.onEvent?.({ type: 'skip', step: steps[i]! });
            done.add(i);
            continue;
          }
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
      // Every step depends only on earlier ones, so one pass skipped or started all it could.
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
    if (failure === undefined && !opts.signal?.aborted && opts.key !== undefined) {
      const ran = new Set(outcomes.flatMap((o) => (o && o.state !== 'skipped' ? [o.step] : [])));
      const changedFiles = state.changedSinceScan();
      if (upToDateAfter(steps, ran, changedFiles, state)) state.markUpToDate(opts.key, changedFiles);
    }
  } finally {
    await Promise.allSettled(running.values());
    // Bookkeeping must not hide the failure that stopped the run (on a full disk both fail).
    try {
      flushAudit();
      state.save();
    } catch (err) {
      failure ??= fsFailure(err, STATE_FILE);
    }
  }
  if (failure !== undefined) throw failure;
  if (opts.signal?.aborted) throw new RunError(INTERRUPTED);
  const finished = outcomes.filter((o): o is StepOutcome => o !== undefined);
  return {
    outcomes: finished,
    commands: finished.filter((o) => o.state !== 'skipped').flatMap((o) => commandOf(o.step)?.display ?? []),
    ms: performance.now() - started,
  };
}

/**
 * A run of a plan the staleness query found up to date: every step skipped, as runPlan would report
 * it, without scheduling anything (on a fleet's no-op the scheduler would ask the query again per step).
 */
export function skipAll(steps: readonly Step[], opts: Pick<RunOptions, 'onEvent'> & { state: DiskState }): RunResult {
  const started = performance.now();
  for (const step of steps) opts.onEvent?.({ type: 'skip', step });
  try {
    opts.state.save(); // what the query verified by content is remembered under the files' identities
  } catch (err) {
    throw fsFailure(err, STATE_FILE);
  }
  return { outcomes: steps.map((step) => ({ step, state: 'skipped' })), commands: [], ms: performance.now() - started };
}

function auditLine(start: string, step: string, command: string, ms: number, exit: number): string {
  return formatAudit({ start, step, command, durationMs: ms, exit });
}
