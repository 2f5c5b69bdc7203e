// One working session on a project: the lock, Ctrl-C handling and the CA passphrase (decrypted at most
// once however many plans run), shared by build, renew, revoke and add-client.
import { cpus } from 'node:os';
import type { Context } from './context.js';
import { acquireLock } from './lock.js';
import { Passphrase } from './passphrase.js';
import { runPlan, type RunResult } from './runner.js';
import type { Step } from './steps.js';

/** Steps run in parallel by default: one per CPU. */
export function defaultJobs(): number {
  return Math.max(1, cpus().length);
}

export interface Session {
  readonly passphrase: Passphrase;
  /** Runs a plan with progress on the reporter; the audit log records every command. */
  run(steps: readonly Step[]): Promise<RunResult>;
}

export async function withSession<T>(ctx: Context, fn: (session: Session) => Promise<T>): Promise<T> {
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
          jobs: ctx.args.jobs ?? defaultJobs(),
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
