// `build`: run the plan; `plan`: show it, as a list or as a replayable shell script.
import { cpus } from 'node:os';
import path from 'node:path';
import { loadContext, type GlobalArgs } from '../context.js';
import { Passphrase } from '../passphrase.js';
import { buildPlan } from '../plan.js';
import { runPlan, type RunResult } from '../runner.js';
import { acquireLock } from '../lock.js';
import { removeStaleTemps } from '../atomic.js';
import { finishInterruptedRotation, protectCaDatabase } from '../cadb.js';
import { requireProgram } from '../exec.js';
import { STATE_FILE } from '../layout.js';
import { checkCaKey, checkTrustChain } from '../trust.js';
import { planScript } from '../script.js';

export function defaultJobs(): number {
  return Math.max(1, cpus().length);
}

export async function build(args: GlobalArgs): Promise<RunResult> {
  const ctx = loadContext(args);
  const steps = buildPlan(ctx.settings);
  if (args.dryRun) return showPlan(args, 'text', ctx);
  const dir = ctx.projectDir;
  // Whatever the user's umask, files (openssl's too: index.txt, newcerts/) are private from their first
  // byte; the runner gives public files (certificates, apply.sh) their mode explicitly.
  const umask = process.umask(0o077);
  // The first SIGINT/SIGTERM stops the run cleanly (children stopped, temp files removed, lock
  // released); a second one ends the process at once. process.on, not once: execa's exit handler
  // re-raises the signal when it finds itself the only listener.
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!abort.signal.aborted) return abort.abort();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The CA key is checked against the CA certificate the first time the passphrase is used.
  const passphrase = new Passphrase(ctx.settings.passphraseFile, abort.signal, (pass) => checkCaKey(ctx.settings, dir, pass));
  try {
    // Everything that can fail on bad input or a broken trust chain fails here, before anything is written.
    const pending = (await runPlan(steps, { projectDir: dir, passphrase, dryRun: true })).outcomes.filter((o) => o.state === 'would-run');
    checkTrustChain(ctx.settings, dir);
    if (pending.some((o) => o.step.kind === 'exec')) requireProgram('openssl');
    if (pending.some((o) => o.step.kind === 'exec' && o.step.command.passphraseOnStdin)) {
      requireProgram('gpg');
      await passphrase.get();
    }
    const release = await acquireLock(dir);
    try {
      for (const f of finishInterruptedRotation(ctx.settings, dir)) ctx.report.warn(`${f}: restored from ${f}.new (left by an interrupted openssl ca)`);
      removeStaleTemps(dir, [...steps.flatMap((st) => st.outputs), STATE_FILE]);
      const result = await runPlan(steps, {
        projectDir: dir,
        passphrase,
        jobs: args.jobs ?? defaultJobs(),
        signal: abort.signal,
        onEvent: ctx.report.onEvent,
        protect: (step) => (step.serial ? protectCaDatabase(ctx.settings, dir) : undefined),
      });
      ctx.report.summary(result);
      ctx.report.result(
        {
          projectDir: dir,
          steps: result.outcomes.map((o) => ({ id: o.step.id, state: o.state, outputs: o.step.outputs })),
          commands: result.commands,
          gpgDecryptions: passphrase.decryptions,
          ms: Math.round(result.ms),
        },
        () => '',
      );
      return result;
    } finally {
      release();
    }
  } finally {
    await passphrase.dispose();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.umask(umask);
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
