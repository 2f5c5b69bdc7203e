// `status --nagios`: the project's own view (no host contacted). CRITICAL when mail stops or is about
// to (a certificate expired or within --crit-days, missing, revoked but still listed, a client not
// listed, the CRL expired); WARNING within --warn-days, a CRL due within --crl-warn-days or lacking a
// revocation.
import type { Settings } from '../settings/index.js';
import type { Status } from '../services/status.js';
import { expiryFinding, pluginResult, type CertDays, type Finding, type Thresholds } from './nagios.js';

export function statusFindings(st: Status, t: Thresholds, crlWarnDays: number, revokedInDb: readonly string[]): Finding[] {
  const out: (Finding | undefined)[] = st.keyProblems.map((p) => ({ state: 'CRITICAL' as const, text: p.line }));
  if (!st.ca.exists) out.push({ state: 'CRITICAL', text: `CA certificate ${st.ca.cert} is missing` });
  else out.push(expiryFinding('CA certificate', st.ca.daysLeft!, t));
  for (const h of st.hosts) {
    if (!h.exists) {
      out.push({ state: 'CRITICAL', text: `${h.fqdn}: certificate missing` });
      continue;
    }
    if (h.revoked) {
      if (h.listed) out.push({ state: 'CRITICAL', text: `${h.fqdn}: revoked but still listed on the relay` });
      continue;
    }
    out.push(expiryFinding(`${h.fqdn}: certificate`, h.daysLeft!, t));
    if (h.role === 'client' && !h.listed) out.push({ state: 'CRITICAL', text: `${h.fqdn}: not listed on the relay` });
  }
  if (st.crl.signedByCa === false) out.push({ state: 'CRITICAL', text: st.crl.signatureProblem ?? `CRL ${st.crl.file}: not signed by the CA` });
  if (st.crl.exists && st.crl.daysLeft !== null) {
    if (st.crl.daysLeft < 0) out.push({ state: 'CRITICAL', text: `CRL expired ${-st.crl.daysLeft} day(s) ago` });
    else if (st.crl.daysLeft <= crlWarnDays) out.push({ state: 'WARNING', text: `CRL next update in ${st.crl.daysLeft} day(s)` });
  }
  const unlisted = revokedInDb.filter((x) => !st.crl.revoked.includes(x));
  if (unlisted.length) out.push({ state: 'WARNING', text: `CRL ${st.crl.exists ? 'lacks' : 'missing for'} ${unlisted.length} revoked certificate(s)` });
  return out.filter((f): f is Finding => f !== undefined);
}

/** Performance data: every certificate in use (not revoked), the CA's labelled by its file. */
export function statusCertDays(s: Settings, st: Status): CertDays[] {
  const out: CertDays[] = [];
  if (st.ca.daysLeft !== null) out.push({ label: `${s.domain}-ca`, days: st.ca.daysLeft });
  for (const h of st.hosts) if (h.daysLeft !== null && !h.revoked) out.push({ label: h.fqdn, days: h.daysLeft });
  return out;
}

export function statusPlugin(s: Settings, st: Status, t: Thresholds, crlWarnDays: number, revokedInDb: readonly string[]): { code: number; line: string } {
  const certs = statusCertDays(s, st);
  const next = [...certs].sort((a, b) => a.days - b.days)[0];
  const ok = `${certs.length} certificate(s) valid${next ? `, next expiry ${next.label} in ${next.days} day(s)` : ''}`;
  return pluginResult(statusFindings(st, t, crlWarnDays, revokedInDb), ok, certs, t);
}
