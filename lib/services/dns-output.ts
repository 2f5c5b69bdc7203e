// How `dns` shows its report: the text for people (and the end of `instructions` for a relay), one
// line per problem for --check, the Nagios plugin line, and Prometheus series (one per check, domain,
// relay and address).
import { problemLine } from '../dns/finding.js';
import { exposition, gauge } from '../monitoring/exposition.js';
import { pluginResult, type Finding } from '../monitoring/nagios.js';
import type { DnsReport } from './dns.js';

const mark = (state: string) => (state === 'ok' ? 'OK   ' : state === 'fail' ? 'FAIL ' : '???? ');

/** The report as text: per relay, per domain, then every check. */
export function dnsText(r: DnsReport): string {
  const out: string[] = [`DNS as receivers see it (queries to ${r.resolver})`];
  for (const relay of r.relays) {
    out.push('', `relay ${relay.fqdn}`);
    out.push(`  addresses: ${relay.addresses.map((a) => a.address).join(', ') || '(none)'}`);
    if (relay.hostAddresses) {
      out.push(relay.nat
        ? `  sends from: its own addresses are ${relay.hostAddresses.join(', ') || '(none)'}, not its name's: it is behind NAT, and receivers see the NAT's public address, which must be ${relay.addresses.map((a) => a.address).join(' or ')}`
        : `  sends from: ${relay.addresses.map((a) => a.address).filter((a) => relay.hostAddresses!.includes(a)).join(', ')} (its own address)`);
    }
    for (const a of relay.addresses) {
      out.push(`  PTR ${a.address}: ${a.ptr === undefined ? '(could not check)' : a.ptr.length ? `${a.ptr.join(', ')}${a.confirmed === undefined ? '' : a.confirmed ? ' (resolves back)' : ' (does NOT resolve back)'}` : '(none)'}`);
    }
    out.push(`  HELO name: ${relay.helo ?? `(not known: ${relay.factsError ?? 'not asked'})`}`);
  }
  for (const d of r.domains) {
    out.push('', `sender domain ${d.domain}`);
    out.push(`  SPF now: ${d.published === undefined ? '(could not check)' : d.published.length ? d.published.map((x) => `"${x}"`).join(' and ') : '(none)'}${d.lookups !== undefined ? ` (${d.lookups} of 10 DNS lookups)` : ''}`);
    if (d.toPublish) out.push(`  publish as the TXT record of ${d.domain}: "${d.toPublish}"`);
    else if (d.published !== undefined && !d.findings.some((f) => f.state !== 'ok')) out.push('  nothing to publish: it authorizes every relay address');
  }
  out.push('', 'checks');
  for (const f of r.findings) out.push(`  ${mark(f.state)} ${[f.check, f.domain, f.relay, f.address].filter(Boolean).join(' ')}: ${f.text}`);
  const bad = r.findings.filter((f) => f.state !== 'ok').length;
  out.push(bad === 0 ? `all ${r.findings.length} checks OK` : `${bad} of ${r.findings.length} checks FAILED or could not be made`);
  return out.join('\n');
}

/** --check: one line per problem. */
export const dnsProblems = (r: DnsReport) => r.findings.filter((f) => f.state !== 'ok').map(problemLine);

export function dnsNagios(r: DnsReport): { code: number; line: string } {
  const findings: Finding[] = r.findings.filter((f) => f.state !== 'ok').map((f) => ({ state: f.state === 'fail' ? 'CRITICAL' : 'UNKNOWN', text: problemLine(f) }));
  return pluginResult(findings, `DNS OK: ${r.findings.length} checks of ${r.relays.length} relay(s) and ${r.domains.length} sender domain(s)`, [], { warnDays: 0, critDays: 0 });
}

export function dnsPrometheus(r: DnsReport): string {
  const samples = r.findings.map((f) => ({
    labels: { check: f.check, relay: f.relay ?? '', domain: f.domain ?? '', address: f.address ?? '' },
    value: f.state === 'ok' ? 1 : f.state === 'fail' ? 0 : -1,
  }));
  return exposition([gauge('postfix_tls_relay_dns_check', 'What receivers check of the relays and sender domains: 1 holds, 0 fails, -1 could not be checked', samples)]);
}
