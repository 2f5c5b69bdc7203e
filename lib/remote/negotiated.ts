// `check --live`: the TLS protocol and suite a client negotiated with a relay, read from the live probe's
// "… TLS connection established to …: TLSv1.3 with cipher …" line (posttls-finger, lib/remote/live.ts), and
// judged against relay_tls_profile: TLS 1.3 (every suite AEAD with forward secrecy), or under `intermediate`
// TLS 1.2 with one of the relay's ECDHE AEAD suites.
import type { CheckResult } from './check-result.js';
import type { Section } from './probe.js';
import { RELAY_TLS12_SUITES } from '../postfix/config.js';
import type { Server, TlsProfile } from '../settings/index.js';

export interface Negotiated {
  protocol: string;
  cipher: string;
  /** "key-exchange X25519" and the rest of posttls-finger's line, when present. */
  details: string;
}

/** The protocol and suite of the probe's established connection, or undefined when there was none. */
export function parseNegotiated(out: string): Negotiated | undefined {
  const m = out.match(/TLS connection established to \S+: (TLSv[\d.]+|SSLv\d) with cipher (\S+)(?: \([^)]*\))?(.*)$/m);
  return m ? { protocol: m[1]!, cipher: m[2]!, details: m[3]!.trim() } : undefined;
}

const EXPECTED: Record<TlsProfile, string> = {
  intermediate: 'TLSv1.3, or TLSv1.2 with an ECDHE AES-GCM/ChaCha20-Poly1305 suite',
  modern: 'TLSv1.3',
};

export function negotiatedCheck(profile: TlsProfile, relay: Server, section: Section | undefined): CheckResult {
  const name = `negotiated TLS with [${relay.fqdn}]:${relay.port} (relay_tls_profile = ${profile})`;
  const n = section ? parseNegotiated(section.out) : undefined;
  if (!n) return { name, ok: false, expected: EXPECTED[profile], actual: 'no TLS connection established (see the live STARTTLS check)' };
  const ok = n.protocol === 'TLSv1.3' || (profile === 'intermediate' && n.protocol === 'TLSv1.2' && (RELAY_TLS12_SUITES as readonly string[]).includes(n.cipher));
  return { name, ok, expected: EXPECTED[profile], actual: `${n.protocol} with ${n.cipher}${n.details ? ` (${n.details})` : ''}` };
}
