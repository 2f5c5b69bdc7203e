// The deploy service (`deploy [client|server|all]`): every relay first, then each client, up to --jobs hosts at once; one host
// failing never undoes or stops another. A client in a key rotation that now runs with its new key ends
// the rotation: the allowlist is rebuilt without the old entry and the relays of this deploy get it.
import type { Context, GlobalArgs } from '../cli/context.js';
import { emptyResult, relayAllowlistProbe, type HostDeploy } from '../remote/deploy.js';
import { assertBundlesReady } from './bundles.js';
import { finishRotations, rotating as rotatingOf } from './rotation.js';
import { readProjectState } from '../state/project.js';
import { hostCommands } from '../remote/host-commands.js';
import { revokedHosts } from '../plan/hosts.js';
import { readSecret } from '../cli/secret-prompt.js';
import { usesSudo } from '../remote/sudo.js';
import { deployFleet, deployPhase, type FleetOptions } from '../remote/fleet.js';
import { RunError, UsageError } from '../errors.js';
import { ALLOWLIST, DEPLOYMENTS_FILE, findHost, namedHosts, selectHosts, type HostSelection } from '../files/layout.js';
import { buildPlan } from '../plan/plan.js';
import { jobsOf, withSession, type Session } from '../runner/session.js';
import { isRelay, type Host, type Settings } from '../settings/index.js';
import { protocolChoice } from '../postfix/config.js';
import { recordRelaysDeployed, relaysBehind } from '../state/relays-deployed.js';
import { sshOptionsFor } from '../remote/ssh-options.js';
import { recordDeployments } from '../remote/deployments.js';
import { versionChoices } from '../postfix/version-choices.js';
import { closeConnections } from '../remote/run.js';
import { describeSharing } from '../remote/connections.js';

export interface DeployArgs extends GlobalArgs {
  which: HostSelection;
  /** Only these hosts (fqdn or host name) of the selection. */
  hosts?: string[];
  sshOption?: string[];
  askSudoPass?: boolean;
}

/** Hosts deployed at once when --jobs is not given: a few, so that a fleet goes faster without flooding. */
export const DEPLOY_JOBS = 4;

function summary(r: HostDeploy): string {
  if (r.state === 'failed') return `${r.fqdn}: FAILED (see the error above)`;
  if (r.state === 'skipped') return r.error === 'revoked' ? `${r.fqdn}: skipped (revoked)` : `${r.fqdn}: skipped (${r.error})`;
  if (r.state === 'unchanged') return `${r.fqdn}: unchanged`;
  const parts = [];
  if (r.files.length) parts.push(`${r.files.length} file(s) updated`);
  if (r.applyChanges) parts.push(`${r.applyChanges} change(s) applied`);
  if (r.reloaded) parts.push('Postfix reloaded');
  return `${r.fqdn}: ${parts.join(', ')}`;
}

function totals(results: readonly HostDeploy[], jobs: number, ms: number): string {
  const n = (st: HostDeploy['state']) => results.filter((r) => r.state === st).length;
  return `deploy: ${results.length} host(s): ${n('updated')} updated, ${n('unchanged')} unchanged, ${n('failed')} failed, ${n('skipped')} skipped (--jobs ${jobs}, ${(ms / 1000).toFixed(1)} s)`;
}

/** What a deploy works on, worked out before anything runs (also by renew --deploy). */
export function prepareDeploy(ctx: Context, args: Pick<DeployArgs, 'which' | 'hosts' | 'sshOption' | 'askSudoPass' | 'jobs'>) {
  const s = ctx.settings;
  const state = readProjectState(s);
  state.checkTrustRecords(); // nothing ships while a record of what the hosts have or may present is wrong
  const options = sshOptionsFor(args.sshOption, s, ctx.report);
  const jobs = args.jobs === undefined ? DEPLOY_JOBS : jobsOf(args.jobs);
  const selected = namedHosts('deploy', selectHosts(s, args.which), args.hosts, s.domain);
  // A revoked client's bundle never ships again; it is named and skipped.
  const revoked = revokedHosts(s, state);
  const hosts = selected.filter((h) => !revoked.has(h.fqdn));
  const skippedRevoked = selected.filter((h) => revoked.has(h.fqdn));
  const sudoMode = args.askSudoPass ? 'stdin' as const : 'nopasswd' as const;
  const plans = hosts.map((h) => ({ host: h, cmds: hostCommands(s, h, options, sudoMode, undefined, (local) => state.records.get(local)?.sha256) }));
  const relaysIncluded = hosts.filter(isRelay);
  // Relays not in this run are read first: they must already list the clients' entries.
  const guards = hosts.some((h) => !isRelay(h)) ? s.servers.filter((r) => !relaysIncluded.includes(r)).map((r) => ({ relay: r, cmd: relayAllowlistProbe(r, options).cmd })) : [];
  const rotating = rotatingOf(state, hosts);
  return { s, state, options, jobs, hosts, skippedRevoked, sudoMode, plans, relaysIncluded, guards, rotating, askSudoPass: args.askSudoPass };
}

export type PreparedDeploy = ReturnType<typeof prepareDeploy>;

/** `deploy -n`: the TLS protocol settings apply.sh will choose on the host by its mail_version. */
function tlsChoiceLines(s: Settings, host: Host): string[] {
  const c = protocolChoice(s, host);
  return [
    `  where apply.sh sets relay_tls_profile = ${c.profile} by the host's mail_version:`,
    `    Postfix >= 3.6: ${c.ranged}`,
    `    older Postfix:  ${c.excluded}`,
  ];
}

export async function deploy(ctx: Context, args: DeployArgs): Promise<number> {
  const prepared = prepareDeploy(ctx, args);
  const { s, state, jobs, hosts, skippedRevoked, plans, relaysIncluded, guards, rotating, options } = prepared;
  if (args.dryRun) {
    let stale: string | null = null;
    try {
      await assertBundlesReady(state, hosts);
    } catch (err) {
      if (!(err instanceof RunError)) throw err;
      stale = err.message;
      ctx.report.warn(stale);
    }
    const then = rotating.length
      ? `then, for ${rotating.join(', ')} (in a key rotation): end the rotation, rebuild the allowlist${relaysIncluded.length ? ` and deploy ${relaysIncluded.map((r) => r.fqdn).join(', ')} again` : ''}`
      : null;
    ctx.report.result(
      {
        dryRun: true,
        ready: stale === null,
        jobs,
        relayAllowlistCheck: guards[0]?.cmd.display ?? null,
        relayAllowlistChecks: guards.map((g) => ({ fqdn: g.relay.fqdn, command: g.cmd.display })),
        connection: plans.length ? describeSharing(plans[0]!.host, options) : null,
        hosts: plans.map((p) => ({ fqdn: p.host.fqdn, role: p.host.role, tlsProtocols: protocolChoice(s, p.host), survey: p.cmds.survey.display, prerequisites: p.cmds.prerequisites.display, stage: p.cmds.stage?.display ?? null, rsync: p.cmds.rsync.display, apply: p.cmds.apply.display, reloadIfOnlyFilesChanged: p.cmds.reload.display, sudoers: p.cmds.sudoers, byPostfixVersion: versionChoices(s, p.host) })),
        skippedRevoked: skippedRevoked.map((h) => h.fqdn),
        rotationsToFinish: rotating,
      },
      () => [
        ...guards.map((g) => `${g.relay.fqdn} (a relay): would read its allowlist, to make sure it lists the clients\n  ${g.cmd.display}`),
        ...plans.map((p) => [
          `${p.host.fqdn} (${isRelay(p.host) ? 'a relay' : 'smtp client'}): would run, over one ssh connection`,
          `  ${p.cmds.survey.display}`,
          `  and, if a file differs:`,
          ...(p.cmds.stage ? [`  ${p.cmds.stage.display}`] : []),
          `  ${p.cmds.rsync.display}`,
          `  ${p.cmds.apply.display}`,
          ...tlsChoiceLines(s, p.host),
          `  and, if rsync replaced a file but apply.sh changed nothing:`,
          `  ${p.cmds.reload.display}`,
          `  apply.sh chooses by the host's Postfix (postconf -dh mail_version):`,
          ...versionChoices(prepared.s, p.host).map((l) => `    ${l}`),
        ].join('\n')),
        ...(plans.length ? [describeSharing(plans[0]!.host, options)] : []),
        ...skippedRevoked.map((h) => `${h.fqdn}: skipped (revoked)`),
        `up to ${jobs} host(s) at once: the relays, then the clients`,
        ...(then ? [then] : []),
      ].join('\n'),
    );
    return 0;
  }

  return withSession(ctx, async (session) => {
    const r = await deployInSession(ctx, session, prepared);
    ctx.report.result(r.data, () => r.text);
    return r.failed ? 1 : 0;
  });
}

export interface DeployData {
  ok: boolean;
  jobs: number;
  hosts: HostDeploy[];
  rotationsFinished: string[];
  relaysAfterRotation: HostDeploy[];
  /** The first of relaysAfterRotation (the one relay of a single-relay setup). */
  relayAfterRotation: HostDeploy | null;
}

/**
 * The deploy itself, inside a session that holds the project lock (also renew --deploy's): every relay
 * first, clients only once every relay lists them; what each host ended with is recorded for monitoring.
 */
export async function deployInSession(ctx: Context, session: Session, p: PreparedDeploy): Promise<{ failed: number; data: DeployData; text: string }> {
  try {
    return await deployHosts(ctx, session, p);
  } finally {
    // One connection per host for the whole run, relays again after a rotation included: closed here.
    await closeConnections(p.s.projectDir);
  }
}

async function deployHosts(ctx: Context, session: Session, p: PreparedDeploy): Promise<{ failed: number; data: DeployData; text: string }> {
  const { s, options, jobs, hosts, skippedRevoked, sudoMode, relaysIncluded, rotating } = p;
  const t0 = performance.now();
  await assertBundlesReady(session.state, hosts);
  const sudoPassword = p.askSudoPass && hosts.some(usesSudo) ? await readSecret('sudo password on the hosts: ') : undefined;
  for (const h of skippedRevoked) ctx.report.info(`${h.fqdn}: skipped: its certificate is revoked (postfix-tls-relay revoke); its bundle is not deployed`);
  const fleet: FleetOptions = { settings: s, sshOptions: options, jobs, out: ctx.report, sudoMode, sudoPassword, allowlist: session.state.text(ALLOWLIST) ?? '', digests: (local) => session.state.records.get(local)?.sha256 };
  const { relays, clients } = await deployFleet(fleet, hosts);
  const results = [...relays, ...clients, ...skippedRevoked.map((h) => emptyResult(h, 'skipped', 'revoked'))];
  recordRelaysDeployed(session.state, relays.filter((r) => r.state !== 'failed').map((r) => r.fqdn));

  // Clients that run with their new key now: the relays can forget the old one.
  const finished = finishRotations(session.state, clients
    .filter((r) => (r.state === 'updated' || r.state === 'unchanged') && rotating.includes(r.fqdn))
    .map((r) => r.fqdn));
  let relaysAgain: HostDeploy[] = [];
  if (finished.length) {
    ctx.report.info(`rotation finished for ${finished.join(', ')}: rebuilding the allowlist without the previous entries`);
    await session.run(buildPlan(s, session.state));
    relaysAgain = await deployPhase(fleet, relaysIncluded);
    recordRelaysDeployed(session.state, relaysAgain.filter((r) => r.state !== 'failed').map((r) => r.fqdn));
  }
  const behind = finished.length ? relaysBehind(session.state) : [];
  if (behind.length) {
    ctx.report.warn(`${behind.join(', ')} still list the previous entries of ${finished.join(', ')}; drop them with: postfix-tls-relay deploy server`);
  }

  sudoPassword?.fill(0);
  record(ctx, [...results, ...relaysAgain]);
  const failed = [...results, ...relaysAgain].filter((r) => r.state === 'failed' || (r.state === 'skipped' && r.error !== 'revoked'));
  return {
    failed: failed.length,
    data: { ok: failed.length === 0, jobs, hosts: results, rotationsFinished: finished, relaysAfterRotation: relaysAgain, relayAfterRotation: relaysAgain[0] ?? null },
    text: [
      ...results.map(summary),
      ...relaysAgain.map((r) => `${summary(r)} (previous entries of ${finished.join(', ')} dropped)`),
      totals([...results, ...relaysAgain], jobs, performance.now() - t0),
    ].join('\n'),
  };
}

/** What each host it reached has now (the last result per host), for status --format prometheus; a failure to record is only a warning. */
function record(ctx: Context, results: readonly HostDeploy[]): void {
  const last = new Map(results.filter((r) => r.state !== 'skipped').map((r) => [r.fqdn, r]));
  try {
    recordDeployments(ctx.settings, 'deploy', [...last.values()].map((r) => ({ host: findHost(ctx.settings, r.fqdn)!, ok: r.state !== 'failed' })));
  } catch (err) {
    ctx.report.warn(`${DEPLOYMENTS_FILE}: not updated (${err instanceof Error ? err.message : String(err)}); monitoring shows the previous deploy`);
  }
}
