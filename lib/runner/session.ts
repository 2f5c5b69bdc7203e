// One working session on a project: the lock, Ctrl-C handling and the CA passphrase (decrypted at most
// once however many plans run), shared by build, renew, revoke and add-client. Before a plan writes
// anything, everything that can fail on bad input or a broken trust chain fails.
import { availableParallelism } from 'node:os';
import { removeStaleTemps } from '../files/atomic.js';
import { narrowKeyModes, octal } from '../files/key-modes.js';
import { completeDatabaseRename, protectCaDatabase } from '../ca/database-guard.js';
import { UsageError } from '../errors.js';
import { requireProgram } from '../programs/exec.js';
import { BOOKKEEPING_FILES, caFiles } from '../files/layout.js';
import { refuseLinkedDirs } from '../files/ownership.js';
import { acquireLock } from './lock.js';
import { Passphrase } from '../secrets/passphrase.js';
import { runPlan, skipAll, type RunEvent, type RunResult } from './runner.js';
import type { Settings } from '../settings/index.js';
import { stale } from './staleness.js';
import { commandOf, type Step } from '../plan/step.js';
import { checkCaKey, checkTrustChain } from '../ca/trust.js';
import { readProjectState, type ProjectState } from '../state/project.js';

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
  /** The project as this session sees it: read once, kept current by every plan run in it. */
  readonly state: ProjectState;
  /**
   * Runs a plan with progress on the reporter; the audit log records every command. `key` (a plain
   * build's plan key): when the run leaves every step up to date, the state remembers it. `ask`: only
   * these steps can be stale (the others are known up to date: see services/add-client.ts); default all.
   */
  run(steps: readonly Step[], opts?: RunRequest): Promise<RunResult>;
  /** The result of a run of `steps` known to be up to date (nothing is asked or run). */
  skip(steps: readonly Step[]): RunResult;
}

export interface RunRequest {
  key?: string;
  ask?: (step: Step) => boolean;
}

/** What a session needs from the command (cli/context's Context is one). */
export interface SessionContext {
  readonly projectDir: string;
  readonly settings: Settings;
  readonly args: { readonly jobs?: number };
  readonly report: { warn(line: string): void; info?(line: string): void; onEvent(e: RunEvent): void };
}

export async function withSession<T>(ctx: SessionContext, fn: (session: Session) => Promise<T>, opts: { lockWaitMs?: number } = {}): Promise<T> {
  const dir = ctx.projectDir;
  const jobs = jobsOf(ctx.args.jobs);
  // Whatever the user's umask, files (openssl's too: index.txt, newcerts/) are private from their first
  // byte; the runner gives public files (certificates, apply.sh) their mode explicitly.
  const umask = process.umask(0o077);
  // The first SIGINT/SIGTERM stops the run cleanly (children stopped, temp files removed, lock
  // released); a second one ends the process at once. process.on, not once, so that the second signal
  // also comes here (and no library's exit handler finds itself the only listener and re-raises it).
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!abort.signal.aborted) return abort.abort();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let state: ProjectState | undefined;
  // The CA key is checked against the CA certificate the first time the passphrase is used.
  const passphrase = new Passphrase(ctx.settings.passphraseFile, abort.signal, (pass) => checkCaKey(ctx.settings, state!, pass));
  try {
    const release = await acquireLock(dir, { waitMs: opts.lockWaitMs, onWait: (pid) => ctx.report.info?.(`waiting for pid ${pid} to finish its work in this project …`) });
    try {
      refuseLinkedDirs(dir, caFiles(ctx.settings).index); // never renamed through a link (the trees are scanned next)
      for (const f of completeDatabaseRename(ctx.settings, dir)) ctx.report.warn(`${f}: restored from ${f}.new (left by an interrupted openssl ca)`);
      // Read under the lock, after the database is whole: no other run changes it until we are done.
      const st = (state = readProjectState(ctx.settings));
      st.checkTrustRecords();
      for (const k of narrowKeyModes(st.tree)) ctx.report.warn(`${k.file}: a private key with mode ${octal(k.mode)}; set back to 0600`);
      return await fn({
        passphrase,
        state: st,
        skip: (steps) => skipAll(steps, { state: st, onEvent: ctx.report.onEvent }),
        run: async (steps, runOpts) => {
          const pending = await preflight(ctx, st, runOpts?.ask ? steps.filter(runOpts.ask) : steps, passphrase);
          removeStaleTemps(st.tree, [...steps.flatMap((x) => x.outputs), ...BOOKKEEPING_FILES]);
          if (pending.size === 0) {
            if (runOpts?.key) st.markUpToDate(runOpts.key);
            return skipAll(steps, { state: st, onEvent: ctx.report.onEvent });
          }
          return runPlan(steps, {
            projectDir: dir,
            state: st,
            passphrase,
            jobs,
            signal: abort.signal,
            onEvent: ctx.report.onEvent,
            pending,
            key: runOpts?.key,
            // Every openssl ca run is all or nothing for the CA database.
            protect: (step) => (step.serial ? protectCaDatabase(ctx.settings, dir) : undefined),
          });
        },
      });
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

/**
 * In-process checks before a plan runs (no program is started unless the plan needs it anyway): the
 * trust chain on disk, the programs the pending steps run, and the passphrase (decrypted now, and the
 * CA key checked with it, when a pending step needs it). Returns the steps that would run.
 */
async function preflight(ctx: SessionContext, state: ProjectState, steps: readonly Step[], passphrase: Passphrase): Promise<ReadonlySet<Step>> {
  checkTrustChain(ctx.settings, state, { adopting: state.isForeignTree() });
  // One key, one host: a key that is another host's, changed outside the tool or revoked stops the run
  // here, before anything is written. Keys this plan replaces (renew --rekey) are not asked.
  // A plan that only changes the CA database (revoke, crl) is not held up: a revocation is the way out.
  const rekeyed = steps.filter((x) => x.kind === 'exec' && x.id.startsWith('key:') && x.force !== undefined).map((x) => x.id.slice(4));
  state.keyIdentities(); // a damaged keys.json stops every writing run (exit 2), this one too
  const keys = steps.some((x) => x.kind === 'copy' || /^(key|csr|cert):|^allowlist$/.test(x.id)) ? state.bindKeys({ skip: new Set(rekeyed), settings: ctx.settings }) : undefined;
  const pending = stale(steps, state);
  const commands = pending.map((p) => commandOf(p.step)).filter((c) => c !== undefined);
  for (const program of new Set(commands.map((c) => c.argv[0]!))) requireProgram(program);
  if (commands.some((c) => c.passphraseOnStdin)) {
    requireProgram('gpg');
    await passphrase.get();
  }
  keys?.record(); // every check passed: keys seen for the first time are recorded
  return new Set(pending.map((p) => p.step));
}
