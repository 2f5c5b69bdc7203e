// What exists now: every certificate's dates, serial, fingerprint, whether the relay lists it and whether
// it is revoked; the CRL; rotations in progress; and the problems `status --check` fails on.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readIndex, revokedSerials } from '../ca/database.js';
import { fingerprint } from '../ca/fingerprint.js';
import { ALLOWLIST, allHosts, caFiles, hostFiles } from '../files/layout.js';
import { loadRotations } from '../ca/rotations.js';
import type { Role, Settings, Subject } from '../settings/index.js';
import { caExtensions, crlInfo } from '../ca/x509-info.js';

export { revokedSerials };

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
}

export interface Status {
  ca: { cert: string; key: string; notAfter: string | null; daysLeft: number | null; exists: boolean; serial: string | null; notes: string[] };
  hosts: HostStatus[];
  crl: CrlStatus;
  rotations: { fqdn: string; reason: 'rekey' | 'renew'; started: string; previousSerials: string[] }[];
  /** Thresholds the problems were computed with. */
  warnDays: number;
  crlWarnDays: number;
  /** What `status --check` fails on: expiring or missing certificates, revoked ones still listed, a stale CRL. */
  problems: string[];
}

function readCert(file: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(file));
  } catch {
    return undefined;
  }
}

const DAY = 86_400_000;
const daysUntil = (d: Date, now: number) => Math.floor((d.getTime() - now) / DAY);

/** The allowlist as built now, or undefined before the first build. */
export function allowlistText(projectDir: string): string | undefined {
  try {
    return readFileSync(path.join(projectDir, ALLOWLIST), 'utf8');
  } catch {
    return undefined;
  }
}

export function listedFingerprints(projectDir: string): Set<string> {
  try {
    return new Set(
      readFileSync(path.join(projectDir, ALLOWLIST), 'utf8')
        .split('\n')
        .filter((l) => l.trim() && !l.trim().startsWith('#'))
        .map((l) => l.trim().split(/\s+/)[0]!.toUpperCase()),
    );
  } catch {
    return new Set();
  }
}

/** node prints a subject as "C=NL\nO=Example Inc.\nCN=…"; the settings give the same fields. */
function subjectLines(subject: Subject, cn: string): string[] {
  const order: (keyof Subject)[] = ['C', 'ST', 'L', 'O', 'OU'];
  return [...order.filter((k) => subject[k] !== undefined).map((k) => `${k}=${subject[k]}`), `CN=${cn}`];
}

/** A warning when the CA certificate's subject is not the one the settings describe (it is never replaced silently). */
export function caSubjectMismatch(s: Settings): string | undefined {
  const ca = caFiles(s);
  const cert = readCert(path.join(s.projectDir, ca.cert));
  if (!cert) return undefined;
  const want = subjectLines(s.subject, s.caCommonName);
  const have = cert.subject.split('\n');
  if (want.length === have.length && want.every((l, i) => l === have[i])) return undefined;
  return `${ca.cert}: kept with its subject (${have.join(', ')}), which differs from the settings (${want.join(', ')}); set the cert_req_* and ca_cert_req_cn settings to match it, or a later change of them makes a new CA certificate`;
}

/** Whole days until the CA certificate expires, undefined without one. */
export function caDaysLeft(s: Settings, now = Date.now()): number | undefined {
  const cert = readCert(path.join(s.projectDir, caFiles(s).cert));
  return cert ? daysUntil(new Date(cert.validTo), now) : undefined;
}

function crlStatus(s: Settings, now: number): CrlStatus {
  const file = caFiles(s).crl;
  try {
    const info = crlInfo(readFileSync(path.join(s.projectDir, file)));
    return {
      file,
      exists: true,
      nextUpdate: info.nextUpdate?.toISOString() ?? null,
      daysLeft: info.nextUpdate ? daysUntil(info.nextUpdate, now) : null,
      revoked: info.revoked,
    };
  } catch {
    return { file, exists: false, nextUpdate: null, daysLeft: null, revoked: [] };
  }
}

export function collectStatus(s: Settings, now = Date.now(), opts: { warnDays?: number; crlWarnDays?: number } = {}): Status {
  const warnDays = opts.warnDays ?? 30;
  const crlWarnDays = opts.crlWarnDays ?? 7;
  const dir = s.projectDir;
  const ca = caFiles(s);
  const caCert = readCert(path.join(dir, ca.cert));
  const index = readIndex(dir, s);
  const revoked = new Set(index.filter((e) => e.status === 'R').map((e) => e.serial));
  const listed = listedFingerprints(dir);
  const rotations = loadRotations(dir).map((r) => ({ fqdn: r.fqdn, reason: r.reason, started: r.started, previousSerials: r.previous.map((p) => p.serial) }));
  const hosts = allHosts(s).map((h): HostStatus => {
    const f = hostFiles(h);
    const cert = readCert(path.join(dir, f.cert));
    const fp = cert ? fingerprint(cert.raw, s.fingerprintDigest, s.fingerprintKind) : null;
    const notAfter = cert ? new Date(cert.validTo) : undefined;
    const rot = rotations.find((r) => r.fqdn === h.fqdn);
    return {
      role: h.role,
      fqdn: h.fqdn,
      cert: f.cert,
      key: f.key,
      exists: cert !== undefined,
      serial: cert ? cert.serialNumber.toUpperCase() : null,
      notAfter: notAfter ? notAfter.toISOString() : null,
      daysLeft: notAfter ? daysUntil(notAfter, now) : null,
      fingerprint: { digest: s.fingerprintDigest, kind: s.fingerprintKind, value: fp },
      listed: h.role === 'client' && fp !== null && listed.has(fp),
      revoked: cert !== undefined && revoked.has(cert.serialNumber.toUpperCase()),
      rotation: rot && h.role === 'client' ? { reason: rot.reason, started: rot.started, previousSerials: rot.previousSerials } : null,
    };
  });
  const caAfter = caCert ? new Date(caCert.validTo) : undefined;
  const caNotes: string[] = [];
  if (caCert) {
    const x = caExtensions(caCert);
    if (!x.hasKeyUsage || x.pathLen === undefined) caNotes.push('made without keyUsage or pathlen (the Makefile\'s CA): renew --ca re-signs it with the proper extensions');
  }
  const crl = crlStatus(s, now);
  const st: Status = {
    ca: {
      cert: ca.cert,
      key: ca.key,
      exists: caCert !== undefined,
      serial: caCert ? caCert.serialNumber.toUpperCase() : null,
      notAfter: caAfter ? caAfter.toISOString() : null,
      daysLeft: caAfter ? daysUntil(caAfter, now) : null,
      notes: caNotes,
    },
    hosts,
    crl,
    rotations: rotations.filter((r) => s.clients.some((c) => c.fqdn === r.fqdn)),
    warnDays,
    crlWarnDays,
    problems: [],
  };
  st.problems = problemsOf(st, [...revoked]);
  return st;
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
      if (h.listed) out.push(`${h.fqdn}: revoked but still listed on the relay (run postfix-tls-relay build, then deploy the relay)`);
      continue; // revoked on purpose: its expiry no longer matters
    }
    out.push(expiry(`${h.fqdn}: certificate`, h.daysLeft!, st.warnDays, `postfix-tls-relay renew ${h.fqdn}`));
    if (h.role === 'client' && !h.listed) out.push(`${h.fqdn}: not listed on the relay (run postfix-tls-relay build)`);
  }
  if (st.crl.exists) {
    if (st.crl.daysLeft !== null) out.push(expiry(`CRL ${st.crl.file}`, st.crl.daysLeft, st.crlWarnDays, 'postfix-tls-relay crl'));
    const missing = revokedInDb.filter((x) => !st.crl.revoked.includes(x));
    if (missing.length) out.push(`CRL ${st.crl.file} does not list ${missing.length} revoked certificate(s) (run postfix-tls-relay crl)`);
  } else if (revokedInDb.length) {
    out.push(`CRL ${st.crl.file} is missing although certificates are revoked (run postfix-tls-relay crl)`);
  }
  return out.filter((p): p is string => p !== undefined);
}

export function statusTable(st: Status): string {
  const rows = [
    ['HOST', 'ROLE', 'SERIAL', 'NOT AFTER', 'DAYS', 'FINGERPRINT', 'LISTED', 'REVOKED'],
    ['(CA)', 'ca', st.ca.serial ? `${st.ca.serial.slice(0, 8)}…` : '', st.ca.notAfter?.slice(0, 10) ?? 'missing', String(st.ca.daysLeft ?? '-'), '', '', ''],
    ...st.hosts.map((h) => [
      h.fqdn,
      h.role,
      h.serial ? `${h.serial.slice(0, 8)}…` : '-',
      h.notAfter?.slice(0, 10) ?? 'missing',
      String(h.daysLeft ?? '-'),
      h.fingerprint.value ? `${h.fingerprint.kind}:${h.fingerprint.digest}:${h.fingerprint.value.slice(0, 23)}…` : '-',
      h.role === 'client' ? (h.listed ? (h.rotation ? 'yes+old' : 'yes') : 'no') : '-',
      h.revoked ? 'yes' : 'no',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  lines.push('');
  lines.push(
    st.crl.exists
      ? `CRL ${st.crl.file}: next update ${st.crl.nextUpdate?.slice(0, 10) ?? 'none'} (${st.crl.daysLeft ?? '-'} days), ${st.crl.revoked.length} revoked`
      : `CRL ${st.crl.file}: none yet (made by postfix-tls-relay revoke or crl)`,
  );
  for (const n of st.ca.notes) lines.push(`CA: ${n}`);
  if (st.rotations.length) {
    lines.push('Rotations in progress (the relay also lists the previous key or certificate):');
    for (const r of st.rotations) {
      lines.push(`  ${r.fqdn}: ${r.reason} since ${r.started.slice(0, 10)}, previous serial(s) ${r.previousSerials.map((x) => `${x.slice(0, 8)}…`).join(', ')};`
        + ` once it runs with the new one: postfix-tls-relay renew --finish ${r.fqdn}`);
    }
  }
  if (st.problems.length) {
    lines.push(`Problems (warning at ${st.warnDays} days, CRL at ${st.crlWarnDays}):`);
    for (const p of st.problems) lines.push(`  ${p}`);
  }
  return lines.join('\n');
}
