// `build`: run the plan; `plan`: show it, as a list or as a replayable shell script.
import path from 'node:path';
import { adoptionNotes, isForeignTree } from '../ca/adopt.js';
import { loadContext, type Context, type GlobalArgs } from '../cli/context.js';
import { Passphrase } from '../secrets/passphrase.js';
import { utimesSync } from 'node:fs';
import { allHosts, bundleDir, caFiles } from '../files/layout.js';
import { shJoin } from '../programs/shell.js';
import { buildPlan, caReqConfigStep, type PlanOptions } from '../plan/plan.js';
import { runPlan, type RunResult } from '../runner/runner.js';
import { withSession, type Session } from '../runner/session.js';
import { planScript } from '../plan/script.js';
import { commandOf } from '../plan/step.js';
import { caDaysLeft, caSubjectMismatch } from '../state/status.js';

export { defaultJobs } from '../runner/session.js';

export async function build(args: GlobalArgs): Promise<RunResult> {
  const ctx = loadContext(args);
  if (args.dryRun) return showPlan(args, 'text', ctx);
  return withSession(ctx, async (session) => {
    let result: RunResult;
    try {
      result = await runBuild(ctx, session);
    } catch (err) {
      // What got done before the failure; nothing when the checks before the plan stopped it.
      if (Object.values(ctx.report.counts).some((n) => n > 0)) ctx.report.summary();
      throw err;
    }
    ctx.report.summary(result);
    const deploy = changedBundles(ctx, result);
    ctx.report.result({ ...buildResult(ctx, session, result), deploy: deploy.hosts }, () => deploy.text);
    return result;
  });
}

/** The build inside a session: also used by renew, revoke and add-client after they changed the project state. */
export async function runBuild(ctx: Context, session: Session, opts?: PlanOptions): Promise<RunResult> {
  const s = ctx.settings;
  const adopting = isForeignTree(s);
  if (adopting) {
    ctx.report.info(`adopting the existing tree in ${path.relative(process.cwd(), ctx.projectDir) || '.'}: the CA key and certificate and every key are kept; certificates are recorded in a new CA database and re-issued (v3) with the same keys`);
    for (const note of adoptionNotes(s)) ctx.report.warn(note);
    const mismatch = caSubjectMismatch(s);
    if (mismatch) ctx.report.warn(mismatch);
    // The CA config is new, the CA certificate is not: write the config, then let the kept certificate
    // count as made from it (as the runner does for a rendered file that came out identical), or this
    // and every later build would replace it.
    await session.run([caReqConfigStep(s)]);
    const now = new Date();
    utimesSync(path.join(ctx.projectDir, caFiles(s).cert), now, now);
  }
  const caLeft = caDaysLeft(s);
  if (caLeft !== undefined && caLeft < s.days) {
    ctx.report.warn(`the CA certificate expires in ${caLeft} days, before certificates issued now (days = ${s.days}); extend it with its key: postfix-tls-relay renew --ca`);
  }
  return session.run(buildPlan(s, opts));
}

/** Hosts whose bundle this build changed: they run with the old files until deployed, so say which deploy. */
export function changedBundles(ctx: Context, result: RunResult): { hosts: string[]; text: string } {
  const s = ctx.settings;
  // A bundle file that was missing was never shipped from here (a first build): only a changed one counts.
  const changed = (o: RunResult['outcomes'][number]) => o.state === 'ran' && !o.reason?.endsWith(' is missing');
  const hosts = allHosts(s).filter((h) => result.outcomes.some((o) => changed(o) && o.step.outputs.some((f) => f.startsWith(`${bundleDir(h)}/`))));
  if (hosts.length === 0) return { hosts: [], text: '' };
  const relay = hosts.some((h) => h.role === 'server');
  const clients = hosts.filter((h) => h.role === 'client').length;
  const which = relay && clients ? '' : relay ? ' server' : ' client';
  const dirArg = path.relative(process.cwd(), ctx.projectDir) ? ` -C ${shJoin([path.relative(process.cwd(), ctx.projectDir)])}` : '';
  return {
    hosts: hosts.map((h) => h.fqdn),
    text: `the bundle${hosts.length === 1 ? ` of ${hosts[0]!.fqdn}` : `s of ${hosts.map((h) => h.fqdn).join(', ')}`} changed; the host${hosts.length === 1 ? '' : 's'} run${hosts.length === 1 ? 's' : ''} the old files until deployed: postfix-tls-relay deploy${which}${dirArg}`,
  };
}

export function buildResult(ctx: Context, session: Session, result: RunResult): Record<string, unknown> {
  return {
    projectDir: ctx.projectDir,
    steps: result.outcomes.map((o) => ({ id: o.step.id, state: o.state, outputs: o.step.outputs })),
    commands: result.commands,
    gpgDecryptions: session.passphrase.decryptions,
    ms: Math.round(result.ms),
  };
}

export async function showPlan(args: GlobalArgs, format: 'text' | 'sh', ctx = loadContext(args), opts?: PlanOptions): Promise<RunResult> {
  const steps = buildPlan(ctx.settings, opts);
  const result = await runPlan(steps, { projectDir: ctx.projectDir, passphrase: new Passphrase(undefined), dryRun: true });
  if (format === 'sh') {
    process.stdout.write(await planScript(ctx.settings, result.outcomes.filter((o) => o.state === 'would-run').map((o) => o.step)));
    return result;
  }
  ctx.report.result(
    { projectDir: ctx.projectDir, steps: result.outcomes.map((o) => ({ id: o.step.id, state: o.state, reason: o.reason ?? null, command: commandOf(o.step)?.display ?? null })) },
    () => {
      const lines = result.outcomes
        .filter((o) => o.state === 'would-run' || args.verbose)
        .map((o) => {
          const head = o.state === 'would-run' ? `would run   ${o.step.title} (${o.reason})` : `up to date  ${o.step.title}`;
          const cmd = commandOf(o.step);
          return o.state === 'would-run' && cmd ? `${head}\n    ${cmd.display}` : head;
        });
      const n = result.outcomes.filter((o) => o.state === 'would-run').length;
      lines.push(n === 0 ? `nothing to do in ${path.relative(process.cwd(), ctx.projectDir) || '.'}` : `${n} step(s) would run`);
      return lines.join('\n');
    },
  );
  return result;
}
