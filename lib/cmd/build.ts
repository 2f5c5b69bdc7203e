// `build`: run the plan; `plan`: show it, as a list or as a replayable shell script.
import { cpus } from 'node:os';
import path from 'node:path';
import { loadContext, type GlobalArgs } from '../context.js';
import { Passphrase } from '../passphrase.js';
import { buildPlan } from '../plan.js';
import { runPlan, type RunResult } from '../runner.js';
import { acquireLock } from '../lock.js';
import { planScript } from '../script.js';

export function defaultJobs(): number {
  return Math.max(1, cpus().length);
}

export async function build(args: GlobalArgs): Promise<RunResult> {
  const ctx = loadContext(args);
  const steps = buildPlan(ctx.settings);
  if (args.dryRun) return showPlan(args, 'text', ctx);
  const release = acquireLock(ctx.projectDir);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const passphrase = new Passphrase(ctx.settings.passphraseFile, abort.signal);
  try {
    let result: RunResult;
    try {
      result = await runPlan(steps, {
        projectDir: ctx.projectDir,
        passphrase,
        jobs: args.jobs ?? defaultJobs(),
        signal: abort.signal,
        onEvent: ctx.report.onEvent,
      });
    } catch (err) {
      ctx.report.summary(); // what got done before the failure
      throw err;
    }
    ctx.report.summary(result);
    ctx.report.result(
      {
        projectDir: ctx.projectDir,
        steps: result.outcomes.map((o) => ({ id: o.step.id, state: o.state, outputs: o.step.outputs })),
        commands: result.commands,
        gpgDecryptions: passphrase.decryptions,
        ms: Math.round(result.ms),
      },
      () => '',
    );
    return result;
  } finally {
    await passphrase.dispose();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    release();
  }
}

export async function showPlan(args: GlobalArgs, format: 'text' | 'sh', ctx = loadContext(args)): Promise<RunResult> {
  const steps = buildPlan(ctx.settings);
  const result = await runPlan(steps, { projectDir: ctx.projectDir, passphrase: new Passphrase(undefined), dryRun: true });
  if (format === 'sh') {
    process.stdout.write(await planScript(ctx.settings, result.outcomes.filter((o) => o.state === 'would-run').map((o) => o.step)));
    return result;
  }
  ctx.report.result(
    { projectDir: ctx.projectDir, steps: result.outcomes.map((o) => ({ id: o.step.id, state: o.state, reason: o.reason ?? null, command: o.step.kind === 'exec' ? o.step.command.display : null })) },
    () => {
      const lines = result.outcomes
        .filter((o) => o.state === 'would-run' || args.verbose)
        .map((o) => {
          const head = o.state === 'would-run' ? `would run   ${o.step.title} (${o.reason})` : `up to date  ${o.step.title}`;
          return o.state === 'would-run' && o.step.kind === 'exec' ? `${head}\n    ${o.step.command.display}` : head;
        });
      const n = result.outcomes.filter((o) => o.state === 'would-run').length;
      lines.push(n === 0 ? `nothing to do in ${path.relative(process.cwd(), ctx.projectDir) || '.'}` : `${n} step(s) would run`);
      return lines.join('\n');
    },
  );
  return result;
}
