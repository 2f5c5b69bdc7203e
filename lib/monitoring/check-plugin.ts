// `check --nagios`: the hosts' view. UNKNOWN when a host cannot be read (ssh, probe), CRITICAL on any
// FAIL (a setting or file that differs, a served certificate that is not the current one, a live
// handshake refused), and the deployed certificates' expiry against --warn-days/--crit-days.
import { X509Certificate } from 'node:crypto';
import type { CheckResult } from '../remote/compare.js';
import { expectedFiles } from '../remote/compare.js';
import type { Probe } from '../remote/probe.js';
import type { Host, Settings } from '../settings/index.js';
import { expiryFinding, pluginResult, type Finding, type Thresholds } from './nagios.js';

export interface CheckedHost {
  fqdn: string;
  checks: CheckResult[];
  /** Days left of the certificate deployed on the host, null when it could not be read. */
  deployedDays: number | null;
  /** The host's certificate path: its `expiry` check is graded by deployedDays instead. */
  certPath: string;
}

const DAY = 86_400_000;

/** Whole days until the host's deployed certificate (as the probe read it) expires. */
export function deployedCertDays(s: Settings, host: Host, probe: Probe, now = Date.now()): number | null {
  const at = expectedFiles(s, host).findIndex((f) => f.kind === 'cert');
  try {
    return Math.floor((new Date(new X509Certificate(probe.get(`cat.${at}`)?.out ?? '').validTo).getTime() - now) / DAY);
  } catch {
    return null;
  }
}

/** Checks that stand for "the host could not be looked at" (commands/check.ts names them so). */
const unread = (c: CheckResult) => !c.ok && (c.name.startsWith('ssh ') || c.name.startsWith('probe on '));

export function checkPlugin(hosts: readonly CheckedHost[], t: Thresholds): { code: number; line: string } {
  const findings: (Finding | undefined)[] = [];
  let total = 0;
  for (const h of hosts) {
    total += h.checks.length;
    const down = h.checks.find(unread);
    if (down) {
      findings.push({ state: 'UNKNOWN', text: `${h.fqdn}: ${down.actual}` });
      continue;
    }
    // An expired deployed certificate is graded by its days below, not once more as a FAIL.
    for (const c of h.checks) if (!c.ok && !(h.deployedDays !== null && c.name === `expiry ${h.certPath}`)) findings.push({ state: 'CRITICAL', text: `${h.fqdn}: ${c.name}: ${c.actual}` });
    if (h.deployedDays !== null) findings.push(expiryFinding(`${h.fqdn}: deployed certificate`, h.deployedDays, t));
  }
  const certs = hosts.filter((h) => h.deployedDays !== null).map((h) => ({ label: h.fqdn, days: h.deployedDays! }));
  const next = [...certs].sort((a, b) => a.days - b.days)[0];
  const ok = `${hosts.length} host(s), all ${total} checks OK${next ? `, next expiry ${next.label} in ${next.days} day(s)` : ''}`;
  return pluginResult(findings.filter((f): f is Finding => f !== undefined), ok, certs, t);
}
