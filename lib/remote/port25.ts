// `check --live`, the seed's manual test built in: can this host talk SMTP on port 25 to the outside?
// posttls-finger (part of Postfix, so on every host the tool serves, deployed or not) dials the probe
// host, reads the banner, says EHLO and QUIT: no STARTTLS (-l none), never a mail, short timeouts. It
// looks the MX up with DNS, as the host's Postfix does. No root needed: it reads main.cf only.
import { isIP } from 'node:net';
import type { CheckResult } from './check-result.js';
import type { Section } from './probe.js';
import type { Host, Settings } from '../settings/index.js';

export type Port25State = 'open' | 'blocked' | 'intercepted' | 'unknown';

export interface Port25Result {
  state: Port25State;
  /** The host the probe dialled (the MX name when it looked one up). */
  dialled?: string;
  /** The host name in the banner, when there was one. */
  banner?: string;
  /** One line: why (the connect error, the banner). */
  detail: string;
}

/** The destination as posttls-finger takes it: [host]:25 for smtp_probe_host, the domain (its MX) otherwise. */
export function probeTarget(s: Settings): string {
  if (!s.probeHost) return s.domain;
  const [host, port = '25'] = s.probeHost.split(':');
  return `[${host}]:${port}`;
}

/** Describes the target for people: "mx.example.org:25" or "the first MX of example.org". */
export function probeTargetText(s: Settings): string {
  return s.probeHost ? (s.probeHost.includes(':') ? s.probeHost : `${s.probeHost}:25`) : `the first MX of ${s.domain}`;
}

export function port25Argv(s: Settings, host: Host): string[] {
  // -o dnssec_probe=: no DNSSEC probe query at start (as live.ts); -l none: no STARTTLS, the banner and EHLO are what matter; -t/-T: give up after 5 s (a dropped port
  // would otherwise hang for Postfix's 30 s); -m 1 is not for MX hosts (it counts reconnects), so the
  // first MX that answers is the one reported. -c is not given: the chat lines carry the banner.
  return ['env', `MAIL_CONFIG=${host.postfixDir}`, 'posttls-finger', '-h', 'dns', '-o', 'dnssec_probe=', '-l', 'none', '-t', '5', '-T', '5', probeTarget(s)];
}

/** The last two labels: a banner name in the same domain as the MX dialled is that MX's own (mx.google.com). */
const site = (name: string) => name.toLowerCase().replace(/\.$/, '').split('.').slice(-2).join('.');

export function port25Result(section: Section | undefined): Port25Result {
  if (!section) return { state: 'unknown', detail: 'no result (the probe stopped early)' };
  const lines = section.out.split('\n').map((l) => l.replace(/^posttls-finger: /, '').trim()).filter(Boolean);
  if (section.exit === 127 || lines.some((l) => /posttls-finger: (command )?not found|No such file or directory$/.test(l))) {
    return { state: 'unknown', detail: 'posttls-finger not found on the host (it comes with Postfix 3.0+)' };
  }
  const connected = lines.map((l) => /^Connected to ([^[\s]+)\[([^\]]+)\]:(\d+)/.exec(l)).find(Boolean);
  const bannerLine = lines.find((l) => /^< 220[ -]/.test(l));
  if (connected) {
    const dialled = connected[1]!;
    const bannerHost = bannerLine ? /^< 220[ -](\S+)/.exec(bannerLine)![1]! : undefined;
    if (!bannerHost) {
      const why = lines.find((l) => /lost connection|reset|timed out|Connection/i.test(l)) ?? 'no 220 banner';
      return { state: 'blocked', dialled, detail: `connected to ${dialled}[${connected[2]}] but ${why}` };
    }
    const banner = bannerLine!.slice(2);
    // An address dialled (smtp_probe_host = 192.0.2.25) has no name to compare the banner with.
    if (!isIP(dialled) && site(bannerHost) !== site(dialled)) {
      return { state: 'intercepted', dialled, banner: bannerHost, detail: `dialled ${dialled}[${connected[2]}]:${connected[3]}, answered by ${bannerHost} ("${banner}")` };
    }
    return { state: 'open', dialled, banner: bannerHost, detail: `${dialled}[${connected[2]}]:${connected[3]} answered "${banner}"` };
  }
  // "Failed to establish session to X via mx[ip]: connect to mx[ip]:25: Connection refused" (reset, timed out).
  const failed = lines.find((l) => /connect to .*: (Connection refused|Connection timed out|Connection reset|No route to host|Network is unreachable)/.test(l));
  if (failed) {
    const m = /connect to ([^[\s]+)\[([^\]]+)\]:(\d+): (.+)$/.exec(failed);
    return { state: 'blocked', dialled: m?.[1], detail: m ? `connect to ${m[1]}[${m[2]}]:${m[3]}: ${m[4]}` : failed };
  }
  return { state: 'unknown', detail: lines.find((l) => /not found|fatal|error|failed/i.test(l)) ?? lines.at(-1) ?? `exit ${section.exit}, no output` };
}

export const PORT25_CHECK = 'live outbound port 25';

/** On a client the result is information (ok); on a relay anything but open is a FAIL. */
export function port25Check(s: Settings, host: Host, section: Section | undefined): CheckResult {
  const r = port25Result(section);
  const name = `${PORT25_CHECK} to ${probeTargetText(s)}`;
  if (host.role === 'client') {
    const why = r.state === 'open'
      ? 'open: this host could deliver directly; the relay is optional'
      : r.state === 'blocked' ? 'blocked: this is why this host needs the relay'
        : r.state === 'intercepted' ? `intercepted by ${r.banner}: this is why this host needs the relay`
          : 'not probed';
    return { name, ok: true, expected: 'open, blocked or intercepted (information)', actual: `${why} (${r.detail})` };
  }
  if (r.state === 'open') return { name, ok: true, expected: 'open', actual: `open (${r.detail})` };
  if (r.state === 'unknown') {
    return { name, ok: false, expected: 'open', actual: `${host.fqdn}: outbound port 25 not probed: ${r.detail}${s.probeHost ? '' : `; set smtp_probe_host to an MX outside your network`}` };
  }
  const what = r.state === 'intercepted' ? `intercepted by ${r.banner}` : 'blocked';
  return { name, ok: false, expected: 'open', actual: `${host.fqdn} cannot deliver: outbound port 25 ${what} (ask the provider to open it): ${r.detail}` };
}

/** A relay's own outbound TLS (smtp_tls_security_level): receivers require TLS, so empty or none is a FAIL. */
export function outboundTlsCheck(host: Host, section: Section | undefined): CheckResult {
  const name = 'live outbound TLS of the relay (main.cf smtp_tls_security_level)';
  const expected = 'may, encrypt, dane, verify or secure';
  if (!section || section.exit !== 0) return { name, ok: false, expected, actual: `cannot read it: ${section?.out.trim() || 'no output'}` };
  const level = section.out.trim();
  if (level === '' || level === 'none') {
    return { name, ok: false, expected, actual: `${level === '' ? '(empty)' : 'none'}: ${host.fqdn} sends in clear; set smtp_tls_security_level = may (postconf -e smtp_tls_security_level=may && postfix reload)` };
  }
  return { name, ok: true, expected, actual: level };
}
