// "What would run, and why?" — answered from the project state, without running anything: the runner
// asks it for each step as it goes, and the commands (plan, deploy, check) and the session's checks
// ask it for a whole plan (pendingSteps). Like make: an output missing or older than an input, or (for a
// rendered file) its recipe changed; and, beyond make, a generated file changed outside the tool.
import { createHash, type Hash } from 'node:crypto';
import { templateSource } from '../files/render.js';
import type { DiskState } from '../state/disk.js';
import type { Step, WriteStep } from '../plan/step.js';

const templateHashes = new Map<string, Hash>();
const recipes = new WeakMap<WriteStep, string>();

/**
 * The hash of a rendered file's template and context, computed once per step (a step is immutable);
 * the template's part of the hash is computed once per template and copied.
 */
export function recipeOf(step: WriteStep): string {
  let recipe = recipes.get(step);
  if (recipe === undefined) {
    const key = `${step.template.engine}:${step.template.name}`;
    let base = templateHashes.get(key);
    if (base === undefined) {
      base = createHash('sha256').update(templateSource(step.template)).update('\0');
      templateHashes.set(key, base);
    }
    recipe = base.copy().update(JSON.stringify(step.context)).digest('hex');
    recipes.set(step, recipe);
  }
  return recipe;
}

/** Reason given for a generated file whose content is not what the tool wrote. */
export const CHANGED_OUTSIDE = 'changed outside the tool';

/** Files the tool renders or copies (not keys, certificates or the CA database, which openssl makes). */
export function isGenerated(step: Step): boolean {
  return step.kind === 'copy' || (step.kind === 'write' && !step.createOnly);
}

/** Why a step must run, or undefined when it is up to date. `changed` holds outputs rewritten earlier in this run. */
export function staleReason(step: Step, state: DiskState, changed: ReadonlySet<string>): string | undefined {
  if (step.force !== undefined) return step.force;
  if (step.kind === 'action') return undefined; // runs only when asked for
  const outTimes = step.outputs.map((o) => state.mtime(o));
  const missing = step.outputs.find((_, i) => outTimes[i] === undefined);
  if (missing !== undefined) return `${missing} is missing`;
  if ((step.kind === 'exec' || step.kind === 'write') && step.createOnly) return undefined;
  if (isGenerated(step)) {
    for (const o of step.outputs) {
      const v = state.verify(o);
      if (v === 'changed') return `${o} was ${CHANGED_OUTSIDE}`;
      if (v === 'unrecorded') return `${o} is not recorded as built by this tool`;
    }
  }
  const oldest = Math.min(...(outTimes as number[]));
  for (const input of step.inputs) {
    if (changed.has(input)) return `${input} was rebuilt`;
    const t = state.mtime(input);
    if (t === undefined) return `${input} is missing`;
    if (t > oldest && !state.records.isAccepted(step.outputs[0]!, input, () => state.read(input))) return `${input} is newer`;
  }
  if (step.kind === 'write' && state.records.recipes[step.output] !== recipeOf(step)) return 'its settings or template changed';
  return undefined;
}

export interface Pending {
  readonly step: Step;
  /** Why it would run; undefined when it is up to date. */
  readonly reason: string | undefined;
}

/** Every step of the plan with why it would run now (a step's outputs count as rebuilt for later steps). */
export function pendingSteps(steps: readonly Step[], state: DiskState): Pending[] {
  const changed = new Set<string>();
  return steps.map((step) => {
    const reason = staleReason(step, state, changed);
    if (reason) step.outputs.forEach((o) => changed.add(o));
    return { step, reason };
  });
}

/** Only the steps that would run. */
export function stale(steps: readonly Step[], state: DiskState): (Pending & { reason: string })[] {
  return pendingSteps(steps, state).filter((p): p is Pending & { reason: string } => p.reason !== undefined);
}

/**
 * After a run that succeeded: whether every step is up to date now. Only the steps that can have changed
 * are asked — those that ran, and those reading a file the run changed (`changed`); every other step was
 * up to date before the run and reads nothing it wrote.
 */
export function upToDateAfter(steps: readonly Step[], ran: ReadonlySet<Step>, changed: ReadonlySet<string>, state: DiskState): boolean {
  const none = new Set<string>();
  for (const step of steps) {
    if (!ran.has(step) && !step.inputs.some((i) => changed.has(i))) continue;
    if (staleReason(step, state, none) !== undefined) return false;
  }
  return true;
}
