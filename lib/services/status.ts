// What exists now: every certificate's dates, serial, fingerprint, whether the relay lists it and whether
// it is revoked; the CRL; rotations in progress; and the problems `status --check` fails on.
import { allHosts, hostFiles } from '../files/layout.js';
import type { Role, Subject } from '../settings/index.js';
import { caExtensions, crlInfo } from '../ca/x509-info.js';
import { crlSignature } from '../ca/crl-signature.js';
import { buildPlan } from '../plan/plan.js';
import { isGenerated } from '../runner/staleness.js';
import type { ProjectState } from '../state/project.js';
import type { KeyProblem } from '../state/key-binding.js';
import { currentAllowlistSha, loadRelaysDeployed } from '../state/relays-deployed.js';
import { withLock } from '../runner/lock.js';
import { planKey } from '../plan/key.js';

export interface HostStatus {
  role: Role;
  fqdn: string;
  cert: string;
  key: string;
  exists: boolean;
  serial: string | null;
  notAfter: string | null;
  daysLeft: number | null;
  fingerprint: { digest: string; kind: 'pubkey' | 'cert'; value: string | null };
  listed: boolean;
  revoked: boolean;
  /** A rotation in progress: previous certificates the relay still lists. */
  rotation: { reason: 'rekey' | 'renew'; started: string; previousSerials: string[] } | null;
}

export interface CrlStatus {
  file: string;
  exists: boolean;
  nextUpdate: string | null;
  daysLeft: number | null;
  /** Serials the CRL lists. */
  revoked: string[];
  /** Signed by the project's CA key; null without a CRL or a CA certificate. */
  signedByCa: boolean | null;
  /** Why signedByCa is false, as status --check words it. */
  signatureProblem: string | null;
}

/** A relay, in the order clients try it, and whether its last deploy carried the allowlist as built now. */
export interface RelayStatus {
  fqdn: string;
  nexthop: string;
  /** current: deployed with this allowlist; behind: an older one (deploy it); unknown: never deployed by this tool. */
  allowlist: 'current' | 'behind' | 'unknown';
  deployedAt: string | null;
}

export interface Status {
  ca: { cert: string; key: string; notAfter: string | null; daysLeft: number | null; exists: boolean; serial: string | null; notes: string[] };
  hosts: HostStatus[];
  relays: RelayStatus[];
  crl: CrlStatus;
  rotations: { fqdn: string; reason: 'rekey' | 'renew'; started: string; previousSerials: string[] }[];
  /** Thresholds the problems were computed with. */
  warnDays: number;
  crlWarnDays: number;
  /** Keys held by the wrong host, changed outside the tool, or revoked (each also one of `problems`). */
  keyProblems: KeyProblem[];
  /** What `status --check` fails on: expiring or missing certificates, revoked ones still listed, a stale CRL, the keys. */
  problems: string[];
}

const DAY = 86_400_000;
const daysUntil = (d: Date, now: number) => Math.floor((d.getTime() - now) / DAY);

/** node prints a subject as "C=NL\nO=Example Inc.\nCN=…"; the settings give the same fields. */
function subjectLines(subject: Subject, cn: string): string[] {
  const order: (keyof Subject)[] = ['C', 'ST', 'L', 'O', 'OU'];
  return [...order.filter((k) => subject[k] !== undefined).map((k) => `${k}=${subject[k]}`), `CN=${cn}`];
}

/** A warning when the CA certificate's subject is not the one the settings describe (it is never replaced silently). */
export function caSubjectMismatch(state: ProjectState): string | undefined {
  const s = state.settings;
  const ca = state.ca;
  const cert = state.caCert();
  if (!cert) return undefined;
  const want = subjectLines(s.subject, s.caCommonName);
  const have = cert.x509.subject.split('\n');
  if (want.length === have.length && want.every((l, i) => l === have[i])) return undefined;
  return `${ca.cert}: kept with its subject (${have.join(', ')}), which differs from the settings (${want.join(', ')}); set the cert_req_* and ca_cert_req_cn settings to match it, or a later change of them makes a new CA certificate`;
}

/** Whole days until the CA certificate expires, undefined without one. */
export function caDaysLeft(state: ProjectState, now = Date.now()): number | undefined {
  const cert = state.caCert();
  return cert ? daysUntil(cert.notAfter, now) : undefined;
}

function crlStatus(state: ProjectState, now: number): CrlStatus {
  const file = state.ca.crl;
  try {
    const data = state.read(file);
    if (!data) throw new Error('no CRL');
    const info = crlInfo(data);
    return {
      file,
      exists: true,
      nextUpdate: info.nextUpdate?.toISOString() ?? null,
      daysLeft: info.nextUpdate ? daysUntil(info.nextUpdate, now) : null,
      revoked: info.revoked,
      ...crlSigned(state, data),
    };
  } catch {
    return { file, exists: false, nextUpdate: null, daysLeft: null, revoked: [], signedByCa: null, signatureProblem: null };
  }
}

/** Whether the CRL is signed by the CA certificate's key: a CRL from another CA with the same name is not ours. */
function crlSigned(state: ProjectState, data: Buffer): Pick<CrlStatus, 'signedByCa' | 'signatureProblem'> {
  const ca = state.caCert();
  if (!ca) return { signedByCa: null, signatureProblem: null };
  const sig = crlSignature(data, ca.x509);
  if (sig === 'valid') return { signedByCa: true, signatureProblem: null };
  const why = sig === 'invalid' ? `not signed by ${state.ca.cert}` : `signed with an algorithm this tool cannot check (${sig.unknownAlgorithm}), so not known to be signed by ${state.ca.cert}`;
  return { signedByCa: false, signatureProblem: `CRL ${state.ca.crl}: ${why}; run postfix-tls-relay crl` };
}

export function collectStatus(state: ProjectState, now = Date.now(), opts: { warnDays?: number; crlWarnDays?: number } = {}): Status {
  const s = state.settings;
  const warnDays = opts.warnDays ?? 30;
  const crlWarnDays = opts.crlWarnDays ?? 7;
  const ca = state.ca;
  const caCert = state.caCert();
  const revoked = state.revoked();
  const listed = new Set((state.allowlist() ?? []).map((e) => e.fingerprint));
  const rotations = state.rotations().map((r) => ({ fqdn: r.fqdn, reason: r.reason, started: r.started, previousSerials: r.previous.map((p) => p.serial) }));
  const hosts = allHosts(s).map((h): HostStatus => {
    const f = hostFiles(h);
    const cert = state.summary(f.cert);
    const fp = cert?.fingerprint ?? null;
    const rot = rotations.find((r) => r.fqdn === h.fqdn);
    return {
      role: h.role,
      fqdn: h.fqdn,
      cert: f.cert,
      key: f.key,
      exists: cert !== undefined,
      serial: cert ? cert.serial : null,
      notAfter: cert ? new Date(cert.notAfter).toISOString() : null,
      daysLeft: cert ? daysUntil(new Date(cert.notAfter), now) : null,
      fingerprint: { digest: s.fingerprintDigest, kind: s.fingerprintKind, value: fp },
      listed: h.role === 'client' && fp !== null && listed.has(fp),
      revoked: cert !== undefined && revoked.has(cert.serial),
      rotation: rot && h.role === 'client' ? { reason: rot.reason, started: rot.started, previousSerials: rot.previousSerials } : null,
    };
  });
  const caAfter = caCert?.notAfter;
  const caNotes: string[] = [];
  if (caCert) {
    const x = caExtensions(caCert.x509);
    if (!x.hasKeyUsage || x.pathLen === undefined) caNotes.push('made without keyUsage or pathlen (the Makefile\'s CA): renew --ca re-signs it with the proper extensions');
  }
  const crl = crlStatus(state, now);
  const sha = currentAllowlistSha(state);
  const deployed = loadRelaysDeployed(state);
  const relays = s.servers.map((r): RelayStatus => {
    const d = deployed[r.fqdn];
    return { fqdn: r.fqdn, nexthop: `[${r.fqdn}]:${r.port}`, allowlist: !d ? 'unknown' : d.allowlist === sha ? 'current' : 'behind', deployedAt: d?.at ?? null };
  });
  const upToDate = state.upToDate(planKey(s));
  const st: Status = {
    ca: {
      cert: ca.cert,
      key: ca.key,
      exists: caCert !== undefined,
      serial: caCert ? caCert.serial : null,
      notAfter: caAfter ? caAfter.toISOString() : null,
      daysLeft: caAfter ? daysUntil(caAfter, now) : null,
      notes: caNotes,
    },
    hosts,
    relays,
    crl,
    rotations: rotations.filter((r) => s.clients.some((c) => c.fqdn === r.fqdn)),
    warnDays,
    crlWarnDays,
    // Nothing in the trees (keys, keys.json, the CA database) changed since a run that bound every key.
    keyProblems: upToDate ? [] : state.keyProblems(),
    problems: [],
  };
  st.problems = [...st.keyProblems.map((p) => p.line), ...problemsOf(st, [...revoked]), ...changedFiles(state, upToDate)];
  return st;
}

/**
 * What a status run learned of the certificates (state/cert-facts.ts) is kept for the next one, when no
 * other run holds the project lock now (status never waits for one); otherwise the next run learns it again.
 */
export async function keepLearned(state: ProjectState): Promise<void> {
  if (!state.factsLearned) return;
  // A cache: another run holding the lock, or a failed write, costs the next run time, nothing else.
  await withLock(state.dir, { waitMs: 0 }, () => state.keepFacts()).catch(() => undefined);
}

/** Generated files (allowlist, configs, bundles) that are no longer what the tool wrote. */
export function changedFiles(state: ProjectState, upToDate = state.upToDate(planKey(state.settings))): string[] {
  // Nothing in the trees changed since a build found every file as it wrote it.
  if (upToDate) return [];
  return buildPlan(state.settings, state)
    .filter(isGenerated)
    .flatMap((step) => step.outputs)
    .filter((o) => state.verify(o) === 'changed')
    .map((o) => `${o}: changed outside the tool (run postfix-tls-relay build to make it again)`);
}

function expiry(what: string, daysLeft: number, warnDays: number, fix: string): string | undefined {
  if (daysLeft < 0) return `${what} has expired (${fix})`;
  if (daysLeft <= warnDays) return `${what} expires in ${daysLeft} day(s) (${fix})`;
  return undefined;
}

function problemsOf(st: Status, revokedInDb: string[]): string[] {
  const out: (string | undefined)[] = [];
  if (!st.ca.exists) out.push(`CA certificate ${st.ca.cert} is missing (run postfix-tls-relay build)`);
  else out.push(expiry(`CA certificate ${st.ca.cert}`, st.ca.daysLeft!, st.warnDays, 'postfix-tls-relay renew --ca'));
  for (const h of st.hosts) {
    if (!h.exists) {
      out.push(`${h.fqdn}: certificate ${h.cert} is missing (run postfix-tls-relay build)`);
      continue;
    }
    if (h.revoked) {
      if (h.listed) out.push(`${h.fqdn}: revoked but still listed on the relays (run postfix-tls-relay build, then deploy the relays)`);
      continue; // revoked on purpose: its expiry no longer matters
    }
    out.push(expiry(`${h.fqdn}: certificate`, h.daysLeft!, st.warnDays, `postfix-tls-relay renew ${h.fqdn}`));
    if (h.role === 'client' && !h.listed) out.push(`${h.fqdn}: not listed on the relay (run postfix-tls-relay build)`);
  }
  for (const r of st.relays) {
    if (r.allowlist === 'behind') out.push(`${r.fqdn}: the relay has an older allowlist than the one built (revocations and rotations are not complete there; run postfix-tls-relay deploy server)`);
  }
  if (st.crl.signatureProblem) out.push(st.crl.signatureProblem);
  if (st.crl.exists) {
    if (st.crl.daysLeft !== null) out.push(expiry(`CRL ${st.crl.file}`, st.crl.daysLeft, st.crlWarnDays, 'postfix-tls-relay crl'));
    const missing = revokedInDb.filter((x) => !st.crl.revoked.includes(x));
    if (missing.length) out.push(`CRL ${st.crl.file} does not list ${missing.length} revoked certificate(s) (run postfix-tls-relay crl)`);
  } else if (revokedInDb.length) {
    out.push(`CRL ${st.crl.file} is missing although certificates are revoked (run postfix-tls-relay crl)`);
  }
  return out.filter((p): p is string => p !== undefined);
}
