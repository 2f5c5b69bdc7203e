// SPF evaluated the way receivers do it, by RFC 7208 (include, a, mx, redirect, exists, macros, the 10
// lookups and 2 void lookups), with mailauth's evaluator and our resolver. Imported on first use: only
// `dns` pays for loading it.
import type { ResolveFn } from './resolver.js';

export interface SpfVerdict {
  /** pass, fail, softfail, neutral, none, permerror, temperror. */
  result: string;
  comment: string;
  /** DNS lookups the evaluation counted (the limit is 10). */
  lookups: number;
}

interface MailauthSpf {
  spf(o: { sender: string; ip: string; helo?: string; mta?: string; resolver: ResolveFn }): Promise<{ status: { result: string; comment?: string }; lookups?: { count: number } }>;
}

let loaded: Promise<MailauthSpf> | undefined;
const mailauth = () => (loaded ??= import('mailauth/lib/spf/index.js').then((m) => ((m as { spf?: unknown }).spf ? m : (m as { default: unknown }).default) as MailauthSpf));

/**
 * The SPF result for mail from `postmaster@domain` sent by `ip` (HELO `helo`). `override`: the TXT
 * records to answer for `domain` instead of asking (to evaluate a record before it is published).
 */
export async function evaluateSpf(resolve: ResolveFn, domain: string, ip: string, helo: string | undefined, override?: string): Promise<SpfVerdict> {
  const { spf } = await mailauth();
  const resolver: ResolveFn = (name, type) =>
    override !== undefined && type === 'TXT' && name.toLowerCase() === domain.toLowerCase() ? Promise.resolve([[override]]) : resolve(name, type);
  const r = await spf({ sender: `postmaster@${domain}`, ip, helo, mta: 'postfix-tls-relay', resolver });
  // mailauth's comment starts with the mta name given above.
  return { result: r.status.result, comment: (r.status.comment ?? '').replace(/^postfix-tls-relay: /, ''), lookups: r.lookups?.count ?? 0 };
}

/** An address no SPF record names (TEST-NET-1): evaluating with it walks every term, so counts every lookup. */
export const UNLISTED_IP = '192.0.2.1';
