// The settings.mk that `init` writes for a new setup: the answers, the defaults recommended for new
// setups, and every other setting commented out with its default, so the file documents itself.
import { SETTINGS } from './catalog.js';

export interface InitAnswers {
  readonly domain: string;
  /** The relay: a host name (completed with the domain) or an fqdn. */
  readonly relay: string;
  readonly port: number;
  /** The smtp clients: host names or fqdns, at least one. */
  readonly clients: readonly string[];
  /** As it goes into settings.mk: relative to the project directory, or absolute. */
  readonly passphraseFile: string;
  /** Who can decrypt the passphrase (only recorded in a comment); undefined when an existing file is kept. */
  readonly recipient?: string;
}

/**
 * New setups get these; the built-in defaults stay those of the seed Makefile so that an existing
 * settings.mk keeps building the same keys (key_algorithm defaults to rsa there).
 */
export const NEW_SETUP_DEFAULTS: readonly (readonly [string, string, string])[] = [
  ['key_algorithm', 'ec', 'EC P-256 keys for the CA, the relay and the clients'],
  ['fingerprint_kind', 'pubkey', 'public-key fingerprints in relay_clientcerts: they survive renewal with the same key'],
  ['signature_hash', 'sha256', 'fingerprint digest; the relay service sets smtpd_tls_fingerprint_digest to it'],
  ['csr_digest', 'sha256', 'signature digest of requests and certificates'],
  ['ca_key_cipher', 'aes256', 'cipher of the passphrase-protected CA key'],
];

/** A host as the seed's settings want it: the short name, plus the fqdn only when it is not <name>.<domain>. */
export function splitHost(name: string, domain: string): { hostname: string; fqdn?: string } {
  const n = name.toLowerCase();
  if (!n.includes('.')) return { hostname: n };
  const suffix = `.${domain.toLowerCase()}`;
  if (n.endsWith(suffix) && !n.slice(0, -suffix.length).includes('.')) return { hostname: n.slice(0, -suffix.length) };
  return { hostname: n.split('.')[0]!, fqdn: n };
}

/**
 * A value as make reads it back unchanged: `$` doubled; before `#` the backslashes doubled plus one.
 * (A trailing backslash would continue the line: callers refuse such values.)
 */
export function makeValue(v: string): string {
  return v.replace(/\$/g, '$$$$').replace(/(\\*)#/g, (_, bs: string) => `${bs}${bs}\\#`);
}

const assign = (name: string, value: string) => `${name.padEnd(23)} := ${value}`;

export function initialSettingsText(a: InitAnswers, now = new Date()): string {
  const relay = splitHost(a.relay, a.domain);
  const [first, ...more] = a.clients.map((c) => splitHost(c, a.domain));
  const set: [string, string][] = [
    ['domain', a.domain.toLowerCase()],
    ['smtpd_server_hostname', relay.hostname],
    ...(relay.fqdn ? [['smtpd_server_fqdn', relay.fqdn] as [string, string]] : []),
    ['smtpd_server_port', String(a.port)],
    ['smtp_client_hostname', first!.hostname],
    ...(first!.fqdn ? [['smtp_client_fqdn', first!.fqdn] as [string, string]] : []),
    ...(more.length ? [['smtp_client_hostnames', more.map((h) => h.fqdn ?? h.hostname).join(' ')] as [string, string]] : []),
  ];
  const lines = [
    `# settings.mk for postfix-tls-relay, written by \`postfix-tls-relay init\` on ${now.toISOString().slice(0, 10)}.`,
    '# Make syntax, as the tls-based-postfix-mailrelay Makefile\'s settings.mk. Every setting is explained',
    '# at the end of this file and in README.md (Settings reference).',
    '',
    ...set.map(([k, v]) => assign(k, makeValue(v))),
    '',
    `# The CA passphrase, GnuPG-encrypted${a.recipient ? ` to ${a.recipient.replace(/[\r\n]/g, ' ')}` : ''}; decrypted in memory on each build.`,
    assign('certs_passphrase_file', makeValue(a.passphraseFile)),
    '',
    '# Recommended for new setups (the built-in defaults are those of the seed Makefile):',
    ...NEW_SETUP_DEFAULTS.flatMap(([k, v, why]) => [`# ${why}`, assign(k, v)]),
    '',
    '# ---- Every other setting, commented out, with its default. Uncomment a line to change it. ----',
  ];
  const written = new Set([...set.map(([k]) => k), 'certs_passphrase_file', ...NEW_SETUP_DEFAULTS.map(([k]) => k)]);
  for (const s of SETTINGS) {
    if (written.has(s.name)) continue;
    lines.push('', `## ${s.name}${s.seed ? '' : ' (new)'}: ${s.doc}`, `# ${assign(s.name, s.default ?? '')}`.trimEnd());
  }
  lines.push('');
  return lines.join('\n');
}
