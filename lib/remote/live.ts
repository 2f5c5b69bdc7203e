// `check --live`: from a client host, posttls-finger opens the relay's port, issues STARTTLS with the
// deployed client certificate, verifies the relay against the deployed CA (security level secure, as
// the client's Postfix does) and sends EHLO again inside TLS: the relay answers 250 only to a client
// certificate from our CA (smtpd_tls_req_ccert). It does not send mail; the allowlist is seen at RCPT.
import type { CheckResult } from './compare.js';
import { remoteFiles } from '../files/layout.js';
import type { Section } from './probe.js';
import type { Host, Settings } from '../settings/index.js';

export function liveProbeArgv(s: Settings, host: Host): string[] {
  const f = remoteFiles(s, host);
  // MAIL_CONFIG: posttls-finger reads main.cf, of the instance that relays. -h native: the system
  // resolver, like the client's own lookups of the relay name; -t/-T: give up after 10 s, not 30;
  // -C: print the certificate the relay serves (compared with the project's in served.ts).
  return [
    'env', `MAIL_CONFIG=${host.postfixDir}`,
    'posttls-finger', '-h', 'native', '-o', 'dnssec_probe=', '-t', '10', '-T', '10', '-l', 'secure', '-C',
    '-F', f.caCert, '-k', f.cert, '-K', f.key, `[${s.server.fqdn}]:${s.server.port}`,
  ];
}

export function liveCheck(s: Settings, section: Section | undefined): CheckResult {
  const name = `live STARTTLS to [${s.server.fqdn}]:${s.server.port} with the client certificate`;
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
