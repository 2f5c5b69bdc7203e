// One sender domain's SPF, as receivers see it: the record now published, the verdict for each relay
// address (mailauth's RFC 7208 evaluation), and the exact record to publish: the current one with
// terms for the addresses it does not authorize yet. A record receivers cannot evaluate at all (two
// records, a syntax error, more than 10 lookups) is a problem of its own, reported once.
import type { Dns } from './resolver.js';
import { v6Hint, type DnsFinding } from './finding.js';
import { evaluateSpf, UNLISTED_IP } from './spf-check.js';
import { recordWith, spfRecords } from './spf-record.js';

export interface RelayAddresses {
  fqdn: string;
  ips: readonly string[];
  helo?: string;
}

export interface DomainReport {
  domain: string;
  /** The SPF records now published (undefined: the TXT query failed). */
  published?: string[];
  /** The record to publish as the domain's TXT record; undefined when nothing needs to change. */
  toPublish?: string;
  /** DNS lookups the current record takes (RFC 7208 allows 10). */
  lookups?: number;
  findings: DnsFinding[];
}

export async function domainSpf(dns: Dns, domain: string, relays: readonly RelayAddresses[]): Promise<DomainReport> {
  const findings: DnsFinding[] = [];
  const txt = await dns.txt(domain);
  if (txt.kind === 'failed') {
    findings.push({ check: 'spf-record', domain, state: 'unknown', text: `TXT of ${domain}: ${txt.text}` });
    return { domain, findings };
  }
  const published = txt.kind === 'ok' ? spfRecords(txt.values) : [];
  if (published.length > 1) {
    findings.push({ check: 'spf-record', domain, state: 'fail', text: `${domain} publishes ${published.length} SPF records (${published.map((r) => `"${r}"`).join(', ')}); receivers give permerror: merge them into one TXT record` });
    return { domain, published, findings };
  }
  const current = published[0];
  let lookups: number | undefined;
  if (current !== undefined) {
    // Walking every term (an address no record names) finds syntax errors and counts every lookup.
    const walk = await evaluateSpf(dns.resolve, domain, UNLISTED_IP, undefined);
    lookups = walk.lookups;
    if (walk.result === 'temperror') {
      findings.push({ check: 'spf-record', domain, state: 'unknown', text: `SPF of ${domain}: ${walk.comment}` });
      return { domain, published, lookups, findings };
    }
    if (walk.result === 'permerror') {
      const tooMany = /Too many DNS/i.test(walk.comment);
      findings.push(tooMany
        ? { check: 'spf-lookups', domain, state: 'fail', text: `the SPF record of ${domain} needs more than 10 DNS lookups (RFC 7208 4.6.4), so receivers give permerror: replace include:, a, mx or ptr terms by ip4:/ip6: terms until it needs 10 or fewer ("${current}")` }
        : { check: 'spf-record', domain, state: 'fail', text: `the SPF record of ${domain} is invalid, so receivers give permerror: ${walk.comment.replace(/^.*?: /, '')} ("${current}"); correct it` });
      return { domain, published, lookups, findings };
    }
    findings.push({ check: 'spf-lookups', domain, state: 'ok', text: `${lookups} of 10 DNS lookups` });
  }

  const verdicts = await Promise.all(relays.flatMap((r) => r.ips.map(async (ip) => ({ relay: r.fqdn, ip, v: await evaluateSpf(dns.resolve, domain, ip, r.helo) }))));
  const missing = [...new Set(verdicts.filter((x) => x.v.result !== 'pass' && x.v.result !== 'temperror').map((x) => x.ip))];
  const toPublish = missing.length ? recordWith(current, missing) : undefined;
  for (const { relay, ip, v } of verdicts) {
    if (v.result === 'pass') findings.push({ check: 'spf', domain, relay, address: ip, state: 'ok', text: `pass: ${v.comment}` });
    else if (v.result === 'temperror') findings.push({ check: 'spf', domain, relay, address: ip, state: 'unknown', text: v.comment });
    else {
      const none = current === undefined ? ` (${domain} has no SPF record yet: this one lists the relays only; add the domain's other senders)` : '';
      findings.push({ check: 'spf', domain, relay, address: ip, state: 'fail', text: `SPF ${v.result} for mail from ${domain} sent by ${relay} (${ip}); publish as the TXT record of ${domain}: "${toPublish}"${none}${v6Hint(ip)}` });
    }
  }
  return { domain, published, toPublish, lookups, findings };
}
