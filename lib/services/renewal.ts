// The renewal service (`renew`): re-issue certificates before they expire — with the same key (the public-key fingerprint on
// the relay stays valid), or with a new key (--rekey) through an overlap window in which the relay lists
// the old and the new fingerprint; `--finish` ends that window; `--ca` re-signs the CA certificate.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Context, GlobalArgs } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { allHosts, bundleDir, findHost, retiredKey } from '../files/layout.js';
import type { PlanRequest } from '../plan/plan.js';
import { without } from '../ca/rotations.js';
import { withSession } from '../runner/session.js';
import type { Host } from '../settings/index.js';
import { readProjectState } from '../state/project.js';
import { allowlistMark, buildInSession, relayChanged as relayChangedSince } from './build.js';
import { showPlan } from './plan.js';
import { finishRotations, rotationsAfterRenewal } from './rotation.js';
import { collectStatus, type Status } from './status.js';
import { bundleDigests, deployChanged } from './renew-deploy.js';

export interface RenewArgs extends GlobalArgs {
  hosts: string[];
  within: number;
  all: boolean;
  rekey: boolean;
  ca: boolean;
  finish: boolean;
  /** Deploy the hosts whose files changed, quiet unless something fails (for timers and cron). */
  deploy?: boolean;
  sshOption?: string[];
}

export interface Renewed {
  fqdn: string;
  role: Host['role'];
  oldSerial: string | null;
  serial: string | null;
  notAfter: string | null;
  newKey: boolean;
  fingerprintChanged: boolean;
  /** The previous fingerprint stays on the allowlist until `renew --finish`. */
  rotation: boolean;
  /** Where the replaced key was set aside (new key only). */
  retiredKey: string | null;
}

function resolveHosts(ctx: Context, names: readonly string[]): Host[] {
  return names.map((n) => {
    const h = findHost(ctx.settings, n);
    if (!h) {
      throw new UsageError(`renew: ${n} is not a host of ${path.basename(ctx.settings.file ?? 'settings.mk')}; hosts: ${allHosts(ctx.settings).map((x) => x.fqdn).join(', ')}`);
    }
    return h;
  });
}

/** Which hosts to renew: the named ones, --all, or those expiring within --within days; never a revoked one unasked. */
function select(ctx: Context, args: RenewArgs, st: Status): { hosts: Host[]; skipped: string[] } {
  if (args.hosts.length) return { hosts: resolveHosts(ctx, args.hosts), skipped: [] };
  if (args.ca && !args.all) return { hosts: [], skipped: [] };
  const skipped: string[] = [];
  const hosts = allHosts(ctx.settings).filter((h) => {
    const hs = st.hosts.find((x) => x.fqdn === h.fqdn)!;
    if (hs.revoked) {
      skipped.push(`${h.fqdn} is revoked; name it to issue it again (with a new key)`);
      return false;
    }
    return args.all || (hs.daysLeft !== null && hs.daysLeft <= args.within);
  });
  return { hosts, skipped };
}

export async function renew(ctx: Context, args: RenewArgs): Promise<number> {
  if (args.deploy && (args.finish || args.dryRun)) throw new UsageError('renew --deploy: cannot be combined with --finish or --dry-run; run renew -n to see what would be renewed');
  if (args.finish) return finish(ctx, args);
  const s = ctx.settings;
  const state = readProjectState(s);
  const before = collectStatus(state);
  const { hosts, skipped } = select(ctx, args, before);
  for (const note of skipped) ctx.report.info(note);
  if (hosts.length === 0 && !args.ca) {
    if (args.deploy) {
      // Nothing to renew; a host an earlier run could not reach still gets its files.
      return withSession(ctx, async (session) => ((await deployChanged(ctx, session, bundleDigests(ctx), args.sshOption))?.failed ? 1 : 0));
    }
    const next = before.hosts.filter((h) => !h.revoked && h.daysLeft !== null).sort((a, b) => a.daysLeft! - b.daysLeft!)[0];
    ctx.report.result({ renewed: [], ca: null, relayChanged: false, rotations: before.rotations }, () =>
      `nothing expires within ${args.within} days${next ? ` (next: ${next.fqdn} in ${next.daysLeft} days)` : ''}; name hosts or use --all to renew anyway`);
    return 0;
  }
  const statusOf = (h: Host) => before.hosts.find((x) => x.fqdn === h.fqdn)!;
  for (const h of hosts) {
    if (!statusOf(h).exists) throw new UsageError(`renew: ${h.fqdn} has no certificate yet; run postfix-tls-relay build`);
  }
  if (args.ca && !before.ca.exists) throw new UsageError('renew --ca: there is no CA certificate yet; run postfix-tls-relay build');

  // A revoked host is issued again with a new key, never with the key that was revoked.
  const rekeyed = hosts.filter((h) => args.rekey || statusOf(h).revoked);
  for (const h of rekeyed) if (!args.rekey) ctx.report.info(`${h.fqdn} is revoked: it gets a new key`);
  const rekey = new Map(rekeyed.map((h) => [h.fqdn, retiredKey(h, statusOf(h).serial!)] as const));
  // Clients whose allowlist entry changes keep the previous one until they run with the new certificate.
  const rotations = rotationsAfterRenewal(state, hosts, rekey, statusOf);
  const opts: PlanRequest = {
    rotations,
    renew: new Set(hosts.map((h) => h.fqdn)),
    rekey,
    renewCaSerial: args.ca ? caSerial() : undefined,
  };
  if (args.dryRun) {
    await showPlan(ctx, 'text', opts, state);
    return 0;
  }

  return withSession(ctx, async (session) => {
    const allowlistBefore = allowlistMark(session);
    const bundlesBefore = args.deploy ? bundleDigests(ctx) : undefined;
    // Refused before the rotations are written: a key that is another host's, changed or revoked.
    session.state.bindKeys({ skip: new Set(rekey.keys()) });
    session.state.setRotations(rotations);
    const result = await buildInSession(ctx, session, opts);
    const deployed = bundlesBefore ? await deployChanged(ctx, session, bundlesBefore, args.sshOption) : null;
    const after = collectStatus(session.state);
    const relayChanged = relayChangedSince(session, allowlistBefore);
    const renewed = hosts.map((h): Renewed => {
      const a = after.hosts.find((x) => x.fqdn === h.fqdn)!;
      const b = statusOf(h);
      return {
        fqdn: h.fqdn, role: h.role, oldSerial: b.serial, serial: a.serial, notAfter: a.notAfter,
        newKey: rekey.has(h.fqdn), fingerprintChanged: a.fingerprint.value !== b.fingerprint.value,
        rotation: after.rotations.some((r) => r.fqdn === h.fqdn),
        retiredKey: rekey.get(h.fqdn) ?? null,
      };
    });
    ctx.report.summary(result);
    const data = {
      renewed,
      ca: args.ca ? { serial: after.ca.serial, notAfter: after.ca.notAfter } : null,
      relayChanged,
      rotations: after.rotations,
      deploy: deployOrder(ctx, renewed, relayChanged, args.ca),
      ...(args.deploy ? { deployed: deployed?.data ?? null } : {}),
    };
    ctx.report.result(data, () => renewText(ctx, data));
    return deployed?.failed ? 1 : 0;
  });
}

/** Random 159-bit serial, like `rand_serial` in openssl ca: positive, no leading zero byte needed. */
function caSerial(): string {
  const b = randomBytes(20);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex').toUpperCase();
}

/** Hosts to deploy, in the order that keeps mail flowing: every relay (new allowlist) before the clients. */
function deployOrder(ctx: Context, renewed: Renewed[], relayChanged: boolean, ca: boolean): string[] {
  if (ca) return allHosts(ctx.settings).map((h) => h.fqdn);
  const relays = relayChanged ? ctx.settings.servers.map((r) => r.fqdn) : renewed.filter((r) => r.role === 'server').map((r) => r.fqdn);
  return [...new Set([...relays, ...renewed.filter((r) => r.role === 'client').map((r) => r.fqdn)])];
}

function renewText(ctx: Context, data: { renewed: Renewed[]; ca: { serial: string | null; notAfter: string | null } | null; relayChanged: boolean; deploy: string[] }): string {
  const s = ctx.settings;
  const out: string[] = [];
  const short = (x: string | null) => (x ? `${x.slice(0, 8)}…` : '-');
  if (data.ca) out.push(`CA certificate re-signed with its key: serial ${short(data.ca.serial)}, valid until ${data.ca.notAfter?.slice(0, 10)}; every issued certificate still verifies`);
  for (const r of data.renewed) {
    const key = r.newKey ? 'new key' : 'same key';
    const fp = r.fingerprintChanged ? (r.rotation ? 'fingerprint changed (the relay lists old and new)' : 'fingerprint changed') : 'fingerprint unchanged';
    out.push(`${r.fqdn}: serial ${short(r.oldSerial)} → ${short(r.serial)}, valid until ${r.notAfter?.slice(0, 10)}, ${key}, ${fp}`);
    if (r.retiredKey) out.push(`  the old key is kept in ${r.retiredKey}`);
  }
  const dir = (fqdn: string) => path.relative(process.cwd(), path.join(ctx.projectDir, bundleDir(findHost(s, fqdn)!))) || '.';
  const relays = s.servers.map((r) => `${dir(r.fqdn)}/`).join(', ');
  const one = s.servers.length === 1;
  if (data.relayChanged) {
    out.push(one ? `The relay must be updated: its allowlist changed. Deploy ${relays} to ${s.server.fqdn} first.`
      : `The relays must be updated: the allowlist changed. Deploy ${relays} first (every relay: postfix-tls-relay deploy server).`);
  } else if (data.renewed.some((r) => r.role === 'client') && !data.ca) out.push(one ? 'The relay needs no change: its allowlist is unchanged.' : 'The relays need no change: the allowlist is unchanged.');
  if (data.deploy.length) out.push(`Deploy, in this order: ${data.deploy.map((f) => `${dir(f)}/`).join(', ')}`);
  const rotating = data.renewed.filter((r) => r.rotation);
  for (const r of rotating) {
    out.push(`When ${r.fqdn} runs with its new ${r.newKey ? 'key' : 'certificate'} (after its deploy): postfix-tls-relay renew --finish ${r.fqdn}, then deploy ${relays} again to drop the old entry (postfix-tls-relay deploy all does both).`);
  }
  return out.join('\n');
}

async function finish(ctx: Context, args: RenewArgs): Promise<number> {
  if (args.rekey || args.ca || args.all) throw new UsageError('renew --finish takes only host names; it cannot be combined with --rekey, --ca or --all');
  const current = readProjectState(ctx.settings).rotations();
  if (args.hosts.length === 0) {
    throw new UsageError(`renew --finish: name the client(s) whose rotation is done${current.length ? `; in progress: ${current.map((r) => r.fqdn).join(', ')}` : ' (none is in progress)'}`);
  }
  const hosts = resolveHosts(ctx, args.hosts);
  const finished = hosts.filter((h) => current.some((r) => r.fqdn === h.fqdn)).map((h) => h.fqdn);
  for (const h of hosts) if (!finished.includes(h.fqdn)) ctx.report.info(`${h.fqdn}: no rotation in progress`);
  if (args.dryRun) {
    await showPlan(ctx, 'text', { rotations: without(current, finished) });
    return 0;
  }
  return withSession(ctx, async (session) => {
    const allowlistBefore = allowlistMark(session);
    finishRotations(session.state, finished);
    const result = await buildInSession(ctx, session);
    ctx.report.summary(result);
    const relayChanged = relayChangedSince(session, allowlistBefore);
    const relays = ctx.settings.servers;
    ctx.report.result({ finished, relayChanged, deploy: relayChanged ? relays.map((r) => r.fqdn) : [], rotations: session.state.rotations().map((r) => r.fqdn) }, () =>
      finished.length
        ? `rotation finished for ${finished.join(', ')}: the allowlist lists only the current certificate${relayChanged ? `; deploy ${relays.map((r) => `${bundleDir(r)}/`).join(', ')} (postfix-tls-relay deploy server)` : ''}`
        : 'nothing to finish');
    return 0;
  });
}

