// What receivers look at for one relay: the addresses of its name (A, AAAA), whether it sends from
// them or from behind NAT, the PTR of each address and whether that name resolves back to it
// (forward-confirmed reverse DNS), and its HELO name against the PTR name. Each with the fix.
import type { Answer, Dns } from './resolver.js';
import { v6Hint, type DnsFinding } from './finding.js';

export interface RelayFactsIn {
  helo?: string;
  addresses?: string[];
  error?: string;
  /** Not asked on purpose (--no-ssh): no HELO check at all. */
  skipped?: boolean;
}

export interface AddressReport {
  address: string;
  /** PTR names ([] when none), undefined when the query failed. */
  ptr?: string[];
  /** Whether the (first) PTR name resolves back to the address. */
  confirmed?: boolean;
}

export interface RelayReport {
  fqdn: string;
  addresses: AddressReport[];
  /** The address(es) the host itself has, when it could be asked. */
  hostAddresses?: string[];
  /** True when none of the name's addresses is the host's own: it sends from behind NAT. */
  nat?: boolean;
  helo?: string;
  /** Why ssh facts (HELO, own addresses) are missing. */
  factsError?: string;
  findings: DnsFinding[];
}

const provider = (ip: string, name: string) => `ask the provider of ${ip}: "set the PTR of ${ip} to ${name}"`;

function addresses(a: Answer<string>, b: Answer<string>): string[] {
  return [...(a.kind === 'ok' ? a.values : []), ...(b.kind === 'ok' ? b.values.map((x) => x.toLowerCase()) : [])];
}

export async function relayDns(dns: Dns, fqdn: string, facts: RelayFactsIn): Promise<RelayReport> {
  const findings: DnsFinding[] = [];
  const [a, aaaa] = await Promise.all([dns.a(fqdn), dns.aaaa(fqdn)]);
  const ips = addresses(a, aaaa);
  for (const [ans, rr] of [[a, 'A'], [aaaa, 'AAAA']] as const) {
    if (ans.kind === 'failed') findings.push({ check: 'address', relay: fqdn, state: 'unknown', text: `${rr} of ${fqdn}: ${ans.text}` });
  }
  if (ips.length === 0 && a.kind !== 'failed') findings.push({ check: 'address', relay: fqdn, state: 'fail', text: `${fqdn} has no A or AAAA record; publish its address` });

  const report: AddressReport[] = await Promise.all(ips.map(async (ip) => {
    const ptr = await dns.ptr(ip);
    if (ptr.kind === 'failed') {
      findings.push({ check: 'ptr', relay: fqdn, address: ip, state: 'unknown', text: `PTR of ${ip}: ${ptr.text}` });
      return { address: ip };
    }
    const names = ptr.kind === 'ok' ? ptr.values.map((n) => n.toLowerCase().replace(/\.$/, '')) : [];
    if (names.length === 0) {
      findings.push({ check: 'ptr', relay: fqdn, address: ip, state: 'fail', text: `${ip} has no PTR record; ${provider(ip, fqdn)}${v6Hint(ip)}` });
      return { address: ip, ptr: [] };
    }
    findings.push({ check: 'ptr', relay: fqdn, address: ip, state: 'ok', text: `${ip} → ${names.join(', ')}` });
    const name = names[0]!;
    const back = ip.includes(':') ? await dns.aaaa(name) : await dns.a(name);
    if (back.kind === 'failed') {
      findings.push({ check: 'fcrdns', relay: fqdn, address: ip, state: 'unknown', text: `${ip.includes(':') ? 'AAAA' : 'A'} of ${name}: ${back.text}` });
      return { address: ip, ptr: names };
    }
    const confirmed = back.kind === 'ok' && back.values.map((x) => x.toLowerCase()).includes(ip);
    findings.push(confirmed
      ? { check: 'fcrdns', relay: fqdn, address: ip, state: 'ok', text: `${name} resolves back to ${ip}` }
      : { check: 'fcrdns', relay: fqdn, address: ip, state: 'fail', text: `the PTR name ${name} of ${ip} does not resolve back to it (${back.kind === 'ok' ? back.values.join(', ') : 'no such name'}); ${provider(ip, fqdn)}, or publish ${name} → ${ip}${v6Hint(ip)}` });
    return { address: ip, ptr: names, confirmed };
  }));

  // HELO against PTR: receivers compare the name the relay announces with the name of its address.
  const helo = facts.helo;
  if (helo === undefined && facts.skipped) {
    // dns --no-ssh: only what DNS says.
  } else if (helo === undefined) {
    findings.push({ check: 'helo', relay: fqdn, state: 'unknown', text: `HELO name not known: ${facts.error ?? 'the relay was not asked'}` });
  } else {
    for (const r of report.filter((x) => x.ptr && x.ptr.length > 0)) {
      const ok = r.ptr!.includes(helo);
      findings.push(ok
        ? { check: 'helo', relay: fqdn, address: r.address, state: 'ok', text: `HELO ${helo} is the PTR name of ${r.address}` }
        : { check: 'helo', relay: fqdn, address: r.address, state: 'fail', text: `HELO ${helo} is not the PTR name ${r.ptr![0]} of ${r.address}; set smtp_helo_name = ${r.ptr![0]} on the relay (postconf -e smtp_helo_name=${r.ptr![0]} && postfix reload), or have the PTR set to ${helo}${v6Hint(r.address)}` });
    }
  }

  // NAT: the host's own addresses do not include the one its name has.
  const own = facts.addresses;
  const nat = own && ips.length > 0 ? !ips.some((ip) => own.includes(ip)) : undefined;
  // Dual stack: the host has a global IPv6 address that no AAAA names: receivers reached over IPv6 see it bare.
  const v6 = (own ?? []).filter((x) => x.includes(':') && !/^fe80:/.test(x) && !ips.includes(x));
  if (!nat && v6.length > 0) {
    findings.push({ check: 'ipv6', relay: fqdn, address: v6[0], state: 'fail', text: `${fqdn} has the IPv6 address ${v6.join(', ')} but no AAAA record for it: mail over IPv6 leaves without a name receivers can confirm; publish the AAAA, its PTR and the SPF term${v6Hint(v6[0])}` });
  }
  return { fqdn, addresses: report, hostAddresses: own, nat, helo, factsError: facts.error, findings };
}
