// One working session on a project: the lock, Ctrl-C handling and the CA passphrase (decrypted at most
// once however many plans run), shared by build, renew, revoke and add-client.
import { availableParallelism } from 'node:os';
import type { Context } from './context.js';
import { UsageError } from './errors.js';
import { acquireLock } from './lock.js';
import { Passphrase } from './passphrase.js';
import { runPlan, type RunResult } from './runner.js';
import type { Step } from './steps.js';

/** Steps run in parallel by default: one per CPU this process may use (honours taskset/affinity, unlike cpus().length). */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/** --jobs as given, checked: a whole number of at least 1, or the default. */
export function jobsOf(jobs: number | undefined): number {
  if (jobs === undefined) return defaultJobs();
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError('--jobs: expected a whole number of steps to run at once, 1 or more, e.g. --jobs 2');
  }
  return jobs;
}

export interface Session {
  readonly passphrase: Passphrase;
  /** Runs a plan with progress on the reporter; the audit log records every command. */
  run(steps: readonly Step[]): Promise<RunResult>;
}

export async function withSession<T>(ctx: Context, fn: (session: Session) => Promise<T>): Promise<T> {
  const jobs = jobsOf(ctx.args.jobs);
  const release = acquireLock(ctx.projectDir);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const passphrase = new Passphrase(ctx.settings.passphraseFile, abort.signal);
  try {
    return await fn({
      passphrase,
      run: (steps) =>
        runPlan(steps, {
          projectDir: ctx.projectDir,
          passphrase,
          jobs,
          signal: abort.signal,
          onEvent: ctx.report.onEvent,
        }),
    });
  } finally {
    await passphrase.dispose();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    release();
  }
}
