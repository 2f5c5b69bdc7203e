// An external TLS scan of an SMTP port in the lab (sslscan with STARTTLS, from another host), read into
// protocols and accepted cipher suites, and what of it lies below the relay's floor (TLS 1.2, Postfix's
// "high" grade).
import type { LabHost } from './lab.js';

export interface TlsScan {
  text: string;
  /** "TLSv1.0" → enabled? */
  protocols: Map<string, boolean>;
  accepted: { protocol: string; cipher: string }[];
}

export async function sslscan(from: LabHost, target: string): Promise<TlsScan> {
  const r = await from.keeper.run(['sslscan', '--no-colour', '--starttls-smtp', target], { check: false, timeoutMs: 120_000 });
  const text = r.stdout + r.stderr;
  const protocols = new Map([...text.matchAll(/^(SSLv[23]|TLSv1\.[0-3])\s+(enabled|disabled)$/gm)].map((m) => [m[1]!, m[2] === 'enabled']));
  const accepted = [...text.matchAll(/^(?:Preferred|Accepted)\s+(TLSv[\d.]+)\s+\d+ bits\s+(\S+)/gm)].map((m) => ({ protocol: m[1]!, cipher: m[2]! }));
  if (protocols.size !== 6 || accepted.length === 0) throw new Error(`sslscan ${target} gave no usable result (exit ${r.code}):\n${text}`);
  return { text, protocols, accepted };
}

/** Postfix's "high" grade (tls_high_cipherlist) as the host's OpenSSL expands it, at security level 0 so that the library hides nothing. */
export async function highCiphers(on: LabHost): Promise<Set<string>> {
  const list = (await on.keeper.run(['postconf', '-dh', 'tls_high_cipherlist'])).stdout.trim();
  return new Set((await on.keeper.run(['openssl', 'ciphers', `${list}:@SECLEVEL=0`])).stdout.trim().split(':'));
}

/** What the scan found below the floor: protocols before TLS 1.2, cipher suites outside "high". */
export function belowFloor(scan: TlsScan, high: ReadonlySet<string>): { protocols: string[]; ciphers: string[] } {
  return {
    protocols: [...scan.protocols].filter(([p, on]) => on && !['TLSv1.2', 'TLSv1.3'].includes(p)).map(([p]) => p),
    ciphers: [...new Set(scan.accepted.filter((a) => !high.has(a.cipher)).map((a) => `${a.protocol} ${a.cipher}`))],
  };
}
