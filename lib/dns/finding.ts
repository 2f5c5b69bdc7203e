// One verdict of `dns`: which check, about which relay, address and sender domain, whether it holds,
// and the one line that says what is wrong and what to do (or why it could not be checked).
export type DnsCheckName = 'address' | 'ptr' | 'fcrdns' | 'helo' | 'ipv6' | 'spf-record' | 'spf-lookups' | 'spf';

export interface DnsFinding {
  check: DnsCheckName;
  relay?: string;
  address?: string;
  domain?: string;
  /** ok: holds; fail: receivers will object; unknown: could not check (a DNS server did not answer …). */
  state: 'ok' | 'fail' | 'unknown';
  text: string;
}

const V6_HINT = 'or, until its IPv6 side is ready, set smtp_address_preference = ipv4 on the relay (postconf -e smtp_address_preference=ipv4 && postfix reload)';

/** The hint a failed IPv6 check ends with. */
export const v6Hint = (address: string | undefined) => (address?.includes(':') ? `; ${V6_HINT}` : '');

export const problemLine = (f: DnsFinding) => `${f.state === 'unknown' ? 'could not check' : 'FAIL'} ${[f.check, f.domain, f.relay, f.address].filter(Boolean).join(' ')}: ${f.text}`;
