// SPF records as text: which TXT strings of a domain are SPF records, and the record to publish, the
// current one with ip4:/ip6: terms for the relays added before its `all` (or `redirect=`), so that
// every sender it already names stays authorized. Evaluation is mailauth's (spf-check.ts), not ours.
import { isIP } from 'node:net';

/** The SPF records among a name's TXT records (each record's strings joined, RFC 7208 3.3). */
export function spfRecords(txt: readonly (readonly string[])[]): string[] {
  return txt.map((chunks) => chunks.join('')).filter((t) => /^v=spf1(\s|$)/i.test(t));
}

/** The term that authorizes one address. */
export const ipTerm = (ip: string) => `${isIP(ip) === 6 ? 'ip6' : 'ip4'}:${ip}`;

/**
 * `record` with a term for each of `ips` it lacks, before the `all` term (or the `redirect=` modifier,
 * or at the end). Without a record: the relays only, `~all` (softfail: the domain's other senders,
 * if any, still arrive until they are listed too).
 */
export function recordWith(record: string | undefined, ips: readonly string[]): string {
  if (record === undefined) return ['v=spf1', ...ips.map(ipTerm), '~all'].join(' ');
  const terms = record.trim().split(/\s+/);
  const have = new Set(terms.map((t) => t.toLowerCase().replace(/^\+/, '')));
  const add = ips.map(ipTerm).filter((t) => !have.has(t.toLowerCase()));
  if (add.length === 0) return terms.join(' ');
  let at = terms.findIndex((t) => /^[+\-~?]?all$/i.test(t));
  if (at < 0) at = terms.findIndex((t) => /^redirect=/i.test(t));
  if (at < 0) at = terms.length;
  return [...terms.slice(0, at), ...add, ...terms.slice(at)].join(' ');
}
