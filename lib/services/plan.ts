// `plan` and every --dry-run that shows the build: what would run now and why, from the staleness
// query (nothing runs, no passphrase is needed), as a list or as a replayable shell script.
import path from 'node:path';
import type { Context } from '../cli/context.js';
import { buildPlan, type PlanRequest } from '../plan/plan.js';
import { planScript } from '../plan/script.js';
import { commandOf } from '../plan/step.js';
import { planKey } from '../plan/key.js';
import { pendingSteps, type Pending } from '../runner/staleness.js';
import { readProjectState, type ProjectState } from '../state/project.js';

export async function showPlan(ctx: Context, format: 'text' | 'sh', req?: PlanRequest, state: ProjectState = readProjectState(ctx.settings)): Promise<void> {
  // Nothing changed since a build found it all up to date: there is nothing to list (the steps up to
  // date are listed with --verbose, and --json lists every step: then the plan is made).
  const quick = req === undefined && !ctx.args.verbose && !ctx.args.json && state.upToDate(planKey(ctx.settings));
  const pending = quick ? [] : pendingSteps(buildPlan(ctx.settings, state, req), state);
  const due = pending.filter((p) => p.reason !== undefined);
  if (format === 'sh') {
    process.stdout.write(await planScript(ctx.settings, due.map((p) => p.step)));
    return;
  }
  const stateOf = (p: Pending) => (p.reason !== undefined ? 'would-run' : 'skipped');
  ctx.report.result(
    { projectDir: ctx.projectDir, steps: pending.map((p) => ({ id: p.step.id, state: stateOf(p), reason: p.reason ?? null, command: commandOf(p.step)?.display ?? null })) },
    () => {
      const lines = pending
        .filter((p) => p.reason !== undefined || ctx.args.verbose)
        .map((p) => {
          const head = p.reason !== undefined ? `would run   ${p.step.title} (${p.reason})` : `up to date  ${p.step.title}`;
          const cmd = commandOf(p.step);
          return p.reason !== undefined && cmd ? `${head}\n    ${cmd.display}` : head;
        });
      lines.push(due.length === 0 ? `nothing to do in ${path.relative(process.cwd(), ctx.projectDir) || '.'}` : `${due.length} step(s) would run`);
      return lines.join('\n');
    },
  );
}
