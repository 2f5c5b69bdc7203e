// The dns service: for every relay, what receivers look at (its addresses, NAT, PTR and forward
// confirmation, HELO against PTR) and, for every sender domain, the SPF record now and the one to
// publish. All DNS questions go out at once, each with its own timeout; the relays are asked over ssh
// (in parallel with the DNS questions) for their HELO name and own addresses.
import type { Context } from '../cli/context.js';
import { Dns, checkResolverAddress, DNS_TIMEOUT_MS } from '../dns/resolver.js';
import { relayDns, type RelayReport } from '../dns/relay-dns.js';
import { domainSpf, type DomainReport } from '../dns/domain-spf.js';
import type { DnsFinding } from '../dns/finding.js';
import { UsageError } from '../errors.js';
import { relayFacts } from '../remote/relay-facts.js';
import { closeConnections } from '../remote/run.js';
import type { RelayFactsIn } from '../dns/relay-dns.js';
import { sshOptionsFor } from '../remote/ssh-options.js';
import type { Settings } from '../settings/index.js';

export interface DnsOptions {
  resolver?: string;
  /** Ask the relays over ssh for their HELO name and own addresses (default true). */
  ssh?: boolean;
  sshOption?: string[];
  timeoutMs?: number;
}

export interface DnsReport {
  ok: boolean;
  resolver: string;
  relays: RelayReport[];
  domains: DomainReport[];
  findings: DnsFinding[];
}

/** Bad options are usage errors, found before any question is asked. */
export function checkDnsOptions(o: DnsOptions): void {
  if (o.resolver !== undefined) {
    const e = checkResolverAddress(o.resolver);
    if (e) throw new UsageError(`--resolver ${e}`);
  }
}

export async function dnsReport(s: Settings, projectDir: string, o: DnsOptions, report?: Context['report']): Promise<DnsReport> {
  checkDnsOptions(o);
  const dns = new Dns(o.resolver, o.timeoutMs ?? DNS_TIMEOUT_MS);
  const options = o.ssh === false ? [] : sshOptionsFor(o.sshOption, s, report);
  // One read per relay: its connection is closed as soon as all are read.
  const facts = await Promise.all(s.servers.map((r): Promise<RelayFactsIn> =>
    o.ssh === false ? Promise.resolve({ error: 'not asked (--no-ssh)', skipped: true }) : relayFacts(projectDir, r, options)))
    .finally(() => closeConnections(projectDir));
  const relays = await Promise.all(s.servers.map((r, i) => relayDns(dns, r.fqdn, facts[i]!)));
  const domains = await Promise.all(s.senderDomains.map((d) =>
    domainSpf(dns, d, relays.map((r) => ({ fqdn: r.fqdn, ips: r.addresses.map((a) => a.address), helo: r.helo })))));
  const findings = [...relays.flatMap((r) => r.findings), ...domains.flatMap((d) => d.findings)];
  return { ok: findings.every((f) => f.state === 'ok'), resolver: dns.where, relays, domains, findings };
}
