// The text table of `status`.
import type { Status } from './status.js';

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
