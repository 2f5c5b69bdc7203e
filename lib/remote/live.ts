// `check --live`: from a client host, posttls-finger opens the relay's port, issues STARTTLS with the
// deployed client certificate, verifies the relay against the deployed CA (security level secure, as
// the client's Postfix does) and sends EHLO again inside TLS: the relay answers 250 only to a client
// certificate from our CA (smtpd_tls_req_ccert). It does not send mail; the allowlist is seen at RCPT.
import type { CheckResult } from './check-result.js';
import { remoteFiles } from '../files/layout.js';
import type { Section } from './probe.js';
import type { Host, Server, Settings } from '../settings/index.js';

/** smtp_host_lookup's two mechanisms: DNS only (Postfix's default) and the system resolver (/etc/hosts …). */
export const LOOKUPS = ['dns', 'native'] as const;
export type Lookup = (typeof LOOKUPS)[number];

/** The relay's addresses as one mechanism finds them: getent with only the dns NSS service, or all of them. */
export function resolveArgv(relay: Server, m: Lookup): string[] {
  return m === 'dns' ? ['getent', '-s', 'dns', 'ahosts', relay.fqdn] : ['getent', 'ahosts', relay.fqdn];
}

/** The mechanisms of a smtp_host_lookup value ("dns", "native", "dns, native"), in order. */
export function lookupModes(value: string): Lookup[] {
  const modes = value.split(/[\s,]+/).filter((m): m is Lookup => (LOOKUPS as readonly string[]).includes(m));
  return modes.length ? modes : ['dns'];
}

/** Does the relay's name resolve the way this client's Postfix looks it up? FAIL with what to do. */
export function resolveCheck(relay: Server, lookup: Section | undefined, resolved: (m: Lookup) => Section | undefined): CheckResult & { mode?: Lookup } {
  const value = lookup?.exit === 0 ? lookup.out.trim() : 'dns';
  const modes = lookupModes(value);
  const name = `relay ${relay.fqdn} resolves as Postfix looks it up (smtp_host_lookup = ${value})`;
  const mode = modes.find((m) => resolved(m)?.exit === 0 && /^\d/.test(resolved(m)!.out.trim()));
  if (mode) {
    const addrs = [...new Set(resolved(mode)!.out.split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean))];
    return { name, ok: true, expected: 'an address', actual: `${addrs.join(' ')} (${mode})`, mode };
  }
  const native = resolved('native')?.exit === 0 && !modes.includes('native') ? '; it is found by the system resolver (e.g. /etc/hosts) only, which Postfix does not use with this setting' : '';
  return {
    name, ok: false, expected: 'an address',
    actual: `${relay.fqdn} not found by ${modes.join(', ')}${native}; add a DNS record for ${relay.fqdn}, or set smtp_host_lookup = dns, native on the client (smtp_client_host_lookup := dns, native in settings.mk, then deploy client)`,
  };
}

/** The probe from client `host` to `relay` (check --live runs one per relay), resolving as `m`. */
export function liveProbeArgv(s: Settings, host: Host, relay: Server, m: Lookup): string[] {
  const f = remoteFiles(s, host);
  // MAIL_CONFIG: posttls-finger reads main.cf, of the instance that relays. -h: the lookup that the
  // client's own smtp_host_lookup uses (chosen by resolveCheck); -t/-T: give up after 10 s, not 30;
  // -C: print the certificate the relay serves (compared with the project's in served.ts).
  return [
    'env', `MAIL_CONFIG=${host.postfixDir}`,
    'posttls-finger', '-h', m, '-o', 'dnssec_probe=', '-t', '10', '-T', '10', '-l', 'secure', '-C',
    '-F', f.caCert, '-k', f.cert, '-K', f.key, `[${relay.fqdn}]:${relay.port}`,
  ];
}

export function liveCheck(relay: Server, section: Section | undefined): CheckResult {
  const name = `live STARTTLS to [${relay.fqdn}]:${relay.port} with the client certificate`;
  const expected = 'Verified TLS connection, EHLO 250 inside TLS';
  if (!section) return { name, ok: false, expected, actual: 'no result (the probe stopped early)' };
  const lines = section.out.split('\n').map((l) => l.replace(/^posttls-finger: /, '').trim()).filter(Boolean);
  const tls = lines.findIndex((l) => /^(Verified|Trusted|Untrusted|Anonymous) TLS connection established/.test(l));
  if (section.exit === 127 || lines.some((l) => /posttls-finger: (command )?not found/.test(l))) {
    return { name, ok: false, expected, actual: 'posttls-finger not found on the client host (it comes with Postfix 3.0+)' };
  }
  if (tls < 0) {
    const why = lines.find((l) => /Failed to establish|failed|error|rejected|lost connection|not found/i.test(l)) ?? lines.at(-1) ?? `exit ${section.exit}, no output`;
    return { name, ok: false, expected, actual: why };
  }
  const established = lines[tls]!;
  const after = lines.slice(tls + 1);
  const rejected = after.find((l) => /rejected|^< [45]\d\d /.test(l));
  const accepted = after.some((l) => /^< 250[ -]/.test(l));
  const ok = /^Verified /.test(established) && accepted && !rejected;
  return { name, ok, expected, actual: rejected ? `${established}; then ${rejected}` : `${established}${accepted ? '; EHLO 250' : '; no EHLO reply'}` };
}
