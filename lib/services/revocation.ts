// The revocation service (`revoke`): Postfix does not consult CRLs for permit_tls_clientcerts, so what actually refuses a client
// is its line leaving relay_clientcerts. The CA database and CRL are updated too, for the record and
// for other consumers. `crl`: regenerate the CRL before it expires.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RevokeReason } from '../programs/openssl.js';
import type { Context, GlobalArgs } from '../cli/context.js';
import { RunError, UsageError } from '../errors.js';
import { ALLOWLIST, allHosts, bundleDir, caFiles, findHost, hostFiles } from '../files/layout.js';
import { caDbConfigStep, crlStep, revokeStep } from '../plan/ca.js';
import { relayConfig } from '../postfix/config.js';
import { withSession } from '../runner/session.js';
import type { Host, Settings } from '../settings/index.js';
import { commandOf, type Step } from '../plan/step.js';
import { readProjectState, type ProjectState } from '../state/project.js';
import { allowlistMark, buildInSession, relayChanged as relayChangedSince } from './build.js';
import { finishRotations } from './rotation.js';
import { collectStatus } from './status.js';

export interface RevokeArgs extends GlobalArgs {
  host: string;
  reason?: RevokeReason;
}

/**
 * permit_tls_all_clientcerts accepts every certificate our CA signed and ignores relay_clientcerts, so a
 * revoked client would still relay. Looks at the generated relay settings and, when they are readable
 * here, at the relay's Postfix files.
 */
export function allClientCertsWarnings(s: Settings): string[] {
  const out: string[] = [];
  if (relayConfig(s).overrides.some((p) => p.value.includes('permit_tls_all_clientcerts'))) {
    out.push('the generated relay service uses permit_tls_all_clientcerts, which ignores relay_clientcerts');
  }
  for (const name of ['main.cf', 'master.cf']) {
    const file = path.posix.join(s.server.postfixDir, name); // the same directory on every relay
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // the relay is usually another machine
    }
    const hits = text.split('\n').filter((l) => !l.trimStart().startsWith('#') && l.includes('permit_tls_all_clientcerts'));
    if (hits.length) {
      out.push(`${file} (on this machine) uses permit_tls_all_clientcerts, which accepts every certificate of the CA and ignores relay_clientcerts: `
        + 'if this is the relay, a revoked client is still accepted; replace it with permit_tls_clientcerts');
    }
  }
  return out;
}

function requireDatabase(state: ProjectState, what: string): void {
  const ca = caFiles(state.settings);
  for (const f of [ca.cert, ca.key, ca.index]) {
    if (!state.exists(f)) throw new UsageError(`${what}: ${f} is missing; run postfix-tls-relay build first`);
  }
}

/** The host named: one of the settings, or a client removed from them whose certificate is still here. */
function revokedHost(ctx: Context, state: ProjectState, name: string): Pick<Host, 'role' | 'fqdn'> & { inSettings: boolean } {
  const h = findHost(ctx.settings, name);
  if (h) return { role: h.role, fqdn: h.fqdn, inSettings: true };
  const fqdn = (name.includes('.') ? name : `${name}.${ctx.settings.domain}`).toLowerCase();
  if (state.exists(hostFiles({ role: 'client', fqdn }).cert)) return { role: 'client', fqdn, inSettings: false };
  throw new UsageError(`revoke: ${name} is not a host of the settings and has no certificate here; hosts: ${allHosts(ctx.settings).map((x) => x.fqdn).join(', ')}`);
}

export async function revoke(ctx: Context, args: RevokeArgs): Promise<number> {
  const s = ctx.settings;
  const state = readProjectState(s);
  requireDatabase(state, 'revoke');
  const host = revokedHost(ctx, state, args.host);
  const cert = hostFiles(host).cert;
  const serial = state.cert(cert)?.serial;
  if (serial === undefined) throw new UsageError(`revoke: ${cert} is missing or unreadable; there is no certificate of ${host.fqdn} to revoke`);
  const already = state.isRevoked(cert);
  for (const w of allClientCertsWarnings(s)) ctx.report.warn(w);
  if (host.role === 'server') {
    ctx.report.warn(`${host.fqdn} is the relay: Postfix clients do not consult CRLs either; give it a new key with postfix-tls-relay renew --rekey ${host.fqdn} and deploy it`);
  }
  // The CA config first: crl_days may have changed since the last build.
  const steps: Step[] = [caDbConfigStep(s), ...(already ? [] : [revokeStep(s, host, args.reason)]), crlStep(s, 'the CA database changed')];
  if (args.dryRun) {
    ctx.report.result({ revoke: host.fqdn, serial, alreadyRevoked: already, commands: steps.flatMap((st) => commandOf(st)?.display ?? []) }, () =>
      [
        ...(already ? [`${host.fqdn}: serial ${serial} is already revoked`] : []),
        ...steps.flatMap((st) => (commandOf(st) ? [`would run   ${st.title}\n    ${commandOf(st)!.display}`] : [])), `then rebuild ${ALLOWLIST} without ${host.fqdn}, and the relay's bundle`].join('\n'));
    return 0;
  }
  if (already) ctx.report.info(`${host.fqdn}: serial ${serial} is already revoked; the allowlist and CRL are brought up to date`);

  return withSession(ctx, async (session) => {
    const allowlistBefore = allowlistMark(session);
    // Its previous keys must not stay listed either.
    finishRotations(session.state, [host.fqdn]);
    const first = await session.run(steps);
    const second = await buildInSession(ctx, session);
    ctx.report.summary({ outcomes: [...first.outcomes, ...second.outcomes], commands: [...first.commands, ...second.commands], ms: first.ms + second.ms });
    const st = collectStatus(session.state);
    const relayChanged = relayChangedSince(session, allowlistBefore);
    const data = {
      revoked: host.fqdn,
      serial,
      reason: args.reason ?? null,
      inSettings: host.inSettings,
      crl: { file: st.crl.file, nextUpdate: st.crl.nextUpdate },
      relayChanged,
      // Complete only when every relay has the new allowlist: `status` shows each relay's.
      deploy: relayChanged ? s.servers.map((r) => r.fqdn) : [],
      // Its own Postfix still relays through the relays (and defers): the way off the host.
      undeploy: host.inSettings ? `postfix-tls-relay undeploy ${host.fqdn}` : null,
    };
    ctx.report.result(data, () =>
      [
        `${host.fqdn}: certificate ${serial.slice(0, 8)}… revoked${args.reason ? ` (${args.reason})` : ''}; CRL ${st.crl.file} valid until ${st.crl.nextUpdate?.slice(0, 10)}`,
        relayChanged
          ? s.servers.length === 1
            ? `Removed from ${ALLOWLIST}. Deploy ${bundleDir(s.server)}/ to ${s.server.fqdn} now: until then the relay still accepts ${host.fqdn}.`
            : `Removed from ${ALLOWLIST}. Deploy every relay now (postfix-tls-relay deploy server: ${s.servers.map((r) => `${bundleDir(r)}/`).join(', ')}): until a relay has it, that relay still accepts ${host.fqdn}.`
          : `${ALLOWLIST} did not list it${host.role === 'server' ? ' (the relay is not on it)' : ''}.`,
        host.inSettings && host.role === 'client'
          ? `${host.fqdn} stays in the settings as revoked; remove it from smtp_client_hostnames, or issue it again with a new key: postfix-tls-relay renew ${host.fqdn}`
          : '',
        host.inSettings
          ? `${host.fqdn} itself still sends its mail to the relays (it will be refused): to give it back what it had before the first deploy, run postfix-tls-relay undeploy ${host.fqdn} (before removing it from the settings)`
          : '',
      ].filter(Boolean).join('\n'));
    return 0;
  });
}

export async function crl(ctx: Context, args: GlobalArgs): Promise<number> {
  requireDatabase(readProjectState(ctx.settings), 'crl');
  const step = crlStep(ctx.settings, 'CRL requested');
  const config = caDbConfigStep(ctx.settings);
  if (args.dryRun) {
    ctx.report.result({ commands: [step.command.display] }, () => `would run   ${step.title}\n    ${step.command.display}`);
    return 0;
  }
  return withSession(ctx, async (session) => {
    const result = await session.run([config, step]);
    ctx.report.summary(result);
    const st = collectStatus(session.state);
    if (st.crl.signatureProblem) throw new RunError(st.crl.signatureProblem); // the CA key made it: never expected
    ctx.report.result({ crl: st.crl }, () => `${st.crl.file}: next update ${st.crl.nextUpdate?.slice(0, 10)} (${st.crl.daysLeft} days), ${st.crl.revoked.length} revoked`);
    return 0;
  });
}
