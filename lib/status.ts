// What exists now: every certificate's dates, serial, fingerprint, and whether the relay lists it.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fingerprint } from './fingerprint.js';
import { ALLOWLIST, allHosts, caFiles, hostFiles } from './layout.js';
import type { Role, Settings } from './settings/index.js';

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
}

export interface Status {
  ca: { cert: string; key: string; notAfter: string | null; daysLeft: number | null; exists: boolean };
  hosts: HostStatus[];
}

function readCert(file: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(file));
  } catch {
    return undefined;
  }
}

const DAY = 86_400_000;

/** Serials marked revoked ("R") in the CA database. */
export function revokedSerials(projectDir: string, s: Settings): Set<string> {
  try {
    const lines = readFileSync(path.join(projectDir, caFiles(s).index), 'utf8').split('\n');
    return new Set(lines.filter((l) => l.startsWith('R\t')).map((l) => (l.split('\t')[3] ?? '').toUpperCase()));
  } catch {
    return new Set();
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

export function collectStatus(s: Settings, now = Date.now()): Status {
  const dir = s.projectDir;
  const ca = caFiles(s);
  const caCert = readCert(path.join(dir, ca.cert));
  const revoked = revokedSerials(dir, s);
  const listed = listedFingerprints(dir);
  const hosts = allHosts(s).map((h): HostStatus => {
    const f = hostFiles(h);
    const cert = readCert(path.join(dir, f.cert));
    const fp = cert ? fingerprint(cert.raw, s.fingerprintDigest, s.fingerprintKind) : null;
    const notAfter = cert ? new Date(cert.validTo) : undefined;
    return {
      role: h.role,
      fqdn: h.fqdn,
      cert: f.cert,
      key: f.key,
      exists: cert !== undefined,
      serial: cert ? cert.serialNumber.toUpperCase() : null,
      notAfter: notAfter ? notAfter.toISOString() : null,
      daysLeft: notAfter ? Math.floor((notAfter.getTime() - now) / DAY) : null,
      fingerprint: { digest: s.fingerprintDigest, kind: s.fingerprintKind, value: fp },
      listed: h.role === 'client' && fp !== null && listed.has(fp),
      revoked: cert !== undefined && revoked.has(cert.serialNumber.toUpperCase()),
    };
  });
  const caAfter = caCert ? new Date(caCert.validTo) : undefined;
  return {
    ca: {
      cert: ca.cert,
      key: ca.key,
      exists: caCert !== undefined,
      notAfter: caAfter ? caAfter.toISOString() : null,
      daysLeft: caAfter ? Math.floor((caAfter.getTime() - now) / DAY) : null,
    },
    hosts,
  };
}

export function statusTable(st: Status): string {
  const rows = [
    ['HOST', 'ROLE', 'SERIAL', 'NOT AFTER', 'DAYS', 'FINGERPRINT', 'LISTED', 'REVOKED'],
    ['(CA)', 'ca', '', st.ca.notAfter?.slice(0, 10) ?? 'missing', String(st.ca.daysLeft ?? '-'), '', '', ''],
    ...st.hosts.map((h) => [
      h.fqdn,
      h.role,
      h.serial ? `${h.serial.slice(0, 8)}…` : '-',
      h.notAfter?.slice(0, 10) ?? 'missing',
      String(h.daysLeft ?? '-'),
      h.fingerprint.value ? `${h.fingerprint.kind}:${h.fingerprint.digest}:${h.fingerprint.value.slice(0, 23)}…` : '-',
      h.role === 'client' ? (h.listed ? 'yes' : 'no') : '-',
      h.revoked ? 'yes' : 'no',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
