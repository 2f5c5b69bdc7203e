// The build service: bring the project up to date inside a session (build, and after renew, revoke and
// add-client have changed what it should be), and the build's result as data.
import path from 'node:path';
import { adoptionNotes } from '../ca/adopt.js';
import type { Context } from '../cli/context.js';
import { ALLOWLIST, allHosts, bundleDir, caFiles } from '../files/layout.js';
import { shJoin } from '../programs/shell.js';
import { sha256 } from '../state/records.js';
import { buildPlan, type PlanRequest } from '../plan/plan.js';
import { planKey } from '../plan/key.js';
import { caReqConfigStep } from '../plan/ca.js';
import type { RunResult } from '../runner/runner.js';
import { withSession, type Session } from '../runner/session.js';
import { caDaysLeft, caSubjectMismatch } from './status.js';

/**
 * The build inside a session: also used by renew, revoke and add-client after they changed the project
 * state. `scope` (add-client, plan/scope.ts): only these hosts' steps can be stale, the others are known
 * up to date; they are planned only to be listed.
 */
export async function buildInSession(ctx: Context, session: Session, req?: PlanRequest, scope?: ReadonlySet<string>): Promise<RunResult> {
  const s = ctx.settings;
  const state = session.state;
  if (state.isForeignTree()) {
    // Two hosts of the tree sharing a key: refused before anything of the tree is adopted.
    state.bindKeys({ settings: s });
    ctx.report.info(`adopting the existing tree in ${path.relative(process.cwd(), ctx.projectDir) || '.'}: the CA key and certificate and every key are kept; certificates are recorded in a new CA database and re-issued (v3) with the same keys`);
    for (const note of adoptionNotes(s, state)) ctx.report.warn(note);
    const mismatch = caSubjectMismatch(state);
    if (mismatch) ctx.report.warn(mismatch);
    // The CA config is new, the CA certificate is not: write the config, and record that the kept
    // certificate counts as made from it, or this and every later build would replace it.
    const ca = caFiles(s);
    await session.run([caReqConfigStep(s)]);
    const config = state.read(ca.reqConfig);
    if (config) state.records.accept(ca.cert, ca.reqConfig, config);
  }
  const caLeft = caDaysLeft(state);
  if (caLeft !== undefined && caLeft < s.days) {
    ctx.report.warn(`the CA certificate expires in ${caLeft} days, before certificates issued now (days = ${s.days}); extend it with its key: postfix-tls-relay renew --ca`);
  }
  // A plain build whose plan and trees are as the last up-to-date run left them has nothing to do: the
  // plan is made only to list its steps (a quiet build, as from a timer, shows none).
  const key = req === undefined ? planKey(s) : undefined;
  if (key !== undefined && state.upToDate(key)) {
    ctx.report.detail('nothing changed since the last build found every step up to date (settings, tool and every file as it left them)');
    return session.skip(ctx.report.listsSteps ? buildPlan(s, state) : []);
  }
  if (scope !== undefined) {
    ctx.report.detail(`asking only ${[...scope].join(', ')}, the CA and the allowlist: every other step was up to date with the settings as they were`);
    const asked = buildPlan(s, state, req, scope);
    if (!ctx.report.listsSteps) return session.run(asked, { key });
    const ids = new Set(asked.map((x) => x.id));
    return session.run(buildPlan(s, state, req), { key, ask: (x) => ids.has(x.id) });
  }
  return session.run(buildPlan(s, state, req), { key });
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

/** Hosts whose bundle this build changed: they run with the old files until deployed, so say which deploy. */
export function changedBundles(ctx: Context, result: RunResult): { hosts: string[]; text: string } {
  const s = ctx.settings;
  // A bundle file that was missing was never shipped from here (a first build): only a changed one counts.
  const changed = (o: RunResult['outcomes'][number]) => o.state === 'ran' && !o.reason?.endsWith(' is missing');
  const touched = new Set(result.outcomes.filter(changed).flatMap((o) => o.step.outputs).map((f) => /^out\/[^/]+/.exec(f)?.[0]));
  const hosts = touched.size === 0 ? [] : allHosts(s).filter((h) => touched.has(bundleDir(h)));
  if (hosts.length === 0) return { hosts: [], text: '' };
  const relay = hosts.some((h) => h.role === 'server');
  const clients = hosts.some((h) => h.role === 'client');
  const which = relay && clients ? '' : relay ? ' server' : ' client';
  const rel = path.relative(process.cwd(), ctx.projectDir);
  const names = hosts.map((h) => h.fqdn);
  return {
    hosts: names,
    text: `the bundle${names.length === 1 ? ` of ${names[0]}` : `s of ${names.join(', ')}`} changed; the host${names.length === 1 ? ' runs' : 's run'} the old files until deployed: postfix-tls-relay deploy${which}${rel ? ` -C ${shJoin([rel])}` : ''}`,
  };
}

/** `build`: a session, the build, its summary and result. */
export async function build(ctx: Context): Promise<RunResult> {
  return withSession(ctx, async (session) => {
    let result: RunResult;
    try {
      result = await buildInSession(ctx, session);
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

/** The relay's allowlist as it is now, to tell afterwards whether a run changed it (the relay then needs a deploy). */
export function allowlistMark(session: Session): string | undefined {
  const data = session.state.read(ALLOWLIST);
  return data === undefined ? undefined : sha256(data);
}

export function relayChanged(session: Session, before: string | undefined): boolean {
  return allowlistMark(session) !== before;
}
