// settings.mk → a validated, typed Settings object. Nothing reaches a command line or a config file
// before it has passed through here.
import path from 'node:path';
import { UsageError } from '../errors.js';
import { KNOWN, MAKEFILE_DEFAULTS, SEED_UNUSED, SETTINGS } from './catalog.js';
import { MakeSyntaxError, MakeVariables, parseMakeText } from './makefile.js';
import * as v from './validate.js';
import { Reader, where } from './reader.js';
import { readSettingsFile } from './file.js';
import { checkRemotePaths } from './remote-paths.js';

export type { Role, KeySpec, TableType, TlsProfile, SshTarget, Host, Server, Subject, Settings } from './types.js';
export { isRelay } from './types.js';
import type { Host, KeySpec, Server, Settings, Subject, TableType, TlsProfile } from './types.js';

export interface LoadOptions {
  projectDir: string;
  /** Explicit -f file; otherwise <projectDir>/settings.mk if it exists. */
  settingsFile?: string;
  /** --set KEY=VALUE pairs, in order. */
  overrides?: readonly string[];
  env?: Record<string, string | undefined>;
  /**
   * Settings file content: the demo's embedded default (no file), or a file's edited text before it is
   * written (with `settingsFile`, which the settings then name as theirs).
   */
  text?: { content: string; name: string };
}

const sources = new WeakMap<Settings, string>();

/** The text `s` was read from (an edit compares it with the file as it is now). */
export function sourceText(s: Settings): string | undefined {
  return sources.get(s);
}

export function loadSettings(opts: LoadOptions): Settings {
  try {
    return readSettings(opts);
  } catch (err) {
    // A bad reference can surface late: in --set, or when a recursive variable is expanded (self-reference).
    if (err instanceof MakeSyntaxError) throw new UsageError(err.file === '--set' ? `--set: ${err.reason}` : err.message);
    throw err;
  }
}

function readSettings(opts: LoadOptions): Settings {
  const projectDir = path.resolve(opts.projectDir);
  const env = opts.env ?? process.env;
  const vars = new MakeVariables({ env, defaults: MAKEFILE_DEFAULTS });
  let file: string | undefined;
  let shown = 'settings.mk';
  const warnings: string[] = [];

  let text: string | undefined;
  if (opts.text) {
    text = opts.text.content;
    shown = opts.text.name;
    if (opts.settingsFile !== undefined) file = path.resolve(opts.settingsFile);
  } else {
    file = path.resolve(opts.settingsFile ?? path.join(projectDir, 'settings.mk'));
    shown = path.relative(process.cwd(), file) || file;
    text = readSettingsFile(file, shown);
  }
  vars.assignAll(parseMakeText(text, shown));

  for (const pair of opts.overrides ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(pair);
    if (!m) throw new UsageError(`--set ${v.printable(pair)}: expected KEY=VALUE, e.g. --set smtpd_server_port=2525`);
    const [, key, value] = m as unknown as [string, string, string];
    if (!KNOWN.has(key)) {
      const hint = v.closest(key, KNOWN);
      throw new UsageError(`--set ${key}: unknown setting${hint ? `; did you mean ${hint}?` : ''} (see the settings reference in README.md)`);
    }
    try {
      vars.override(key, value);
    } catch (err) {
      if (err instanceof MakeSyntaxError) throw new UsageError(`--set ${key}: ${err.reason}`);
      throw err;
    }
  }

  const unusedSeed: string[] = [];
  for (const name of vars.names()) {
    if (KNOWN.has(name) || name in MAKEFILE_DEFAULTS) continue;
    if (SEED_UNUSED.includes(name)) {
      unusedSeed.push(name);
      continue;
    }
    const o = vars.origin(name);
    const hint = v.closest(name, KNOWN);
    warnings.push(`${where(o)}: ${name} is not a setting of this tool and is ignored${hint ? `; did you mean ${hint}?` : ''}`);
  }
  if (unusedSeed.length) warnings.push(`${shown}: ignoring Makefile-only variables ${unusedSeed.join(', ')} (not used by postfix-tls-relay)`);

  // Defaults behave like `name ?= default` after the file, so they may refer to the file's values.
  for (const s of SETTINGS) {
    if (s.default !== undefined && !vars.has(s.name)) {
      vars.assign({ name: s.name, op: '?=', value: s.default, file: '<default>', line: 0 });
    }
  }

  const r = new Reader(vars, shown, env);
  const get = (name: string) => r.get(name);

  const domain = r.check('domain', v.checkFqdnOrLabel, true);
  const keyAlgorithm = r.check('key_algorithm', (x) => v.checkOneOf(x, ['rsa', 'ec'])) as 'rsa' | 'ec';
  const caKeyBits = Number(r.check('ca_key_bits', v.checkRsaBits));
  const keyBits = Number(r.check('key_bits', v.checkRsaBits));
  const ec: KeySpec = { algorithm: 'ec', curve: 'P-256' };
  const caKeyCipher = r.check('ca_key_cipher', v.checkCipher);
  if (/^des/.test(caKeyCipher)) {
    warnings.push(`${where(r.origin('ca_key_cipher'))}: ca_key_cipher = ${caKeyCipher} is honoured but weak; aes256 is recommended for new CA keys`);
  }
  const fingerprintDigest = r.check('signature_hash', v.checkFingerprintDigest);
  if (fingerprintDigest === 'md5' || fingerprintDigest === 'sha1') {
    warnings.push(`${where(r.origin('signature_hash'))}: signature_hash = ${fingerprintDigest} works (the relay sets smtpd_tls_fingerprint_digest = ${fingerprintDigest}) but sha256 is recommended`);
  }

  const servers = readRelays(r, domain);
  const clientUser = r.check('smtp_client_ssh_user', v.checkUser);
  const clientPort = Number(r.check('smtp_client_ssh_port', v.checkPort));
  const clientPostfixDir = r.check('smtp_client_postfix_dir', v.checkRemotePath);
  const clientLoglevel = Number(r.check('smtp_client_tls_loglevel', v.checkLoglevel));
  const clientFqdns: string[] = [];
  if (get('smtp_client_hostname') !== '' || get('smtp_client_fqdn') !== `.${domain}`) {
    r.check('smtp_client_hostname', v.checkHostnameOrFqdn, true);
    clientFqdns.push(r.check('smtp_client_fqdn', (x) => v.checkFqdn(x) ?? v.checkCommonName(x), true).toLowerCase());
  }
  for (const word of get('smtp_client_hostnames').split(/\s+/).filter(Boolean)) {
    const fq = word.includes('.') ? word : `${word}.${domain}`;
    const e = (word.includes('.') ? v.checkFqdn(word) : v.checkHostname(word)) ?? v.checkCommonName(fq);
    if (e) throw new UsageError(`${where(r.origin('smtp_client_hostnames'))}: smtp_client_hostnames: ${e}`);
    clientFqdns.push(fq.toLowerCase());
  }
  if (clientFqdns.length === 0) {
    throw new UsageError(`${shown}: no smtp client is set; set smtp_client_hostname (or smtp_client_hostnames)`);
  }
  const seen = new Set<string>(servers.map((x) => x.fqdn));
  for (const fq of clientFqdns) {
    if (seen.has(fq)) {
      throw new UsageError(`${shown}: ${fq} is named twice (clients and the relay need distinct fqdns); remove the duplicate`);
    }
    seen.add(fq);
  }
  const firstClientSsh = r.optional('smtp_client_ssh_host', v.checkSshHost);
  const clients: Host[] = clientFqdns.map((fqdn, i) => ({
    role: 'client',
    fqdn,
    ssh: { user: clientUser, host: (i === 0 ? firstClientSsh : undefined) ?? fqdn, port: clientPort },
    postfixDir: clientPostfixDir,
    tlsLoglevel: clientLoglevel,
  }));

  const subject: Record<string, string> = {};
  const subjectFields: [keyof Subject, string][] = [
    ['C', 'cert_req_country'], ['ST', 'cert_req_state'], ['L', 'cert_req_locality'],
    ['O', 'cert_req_organization'], ['OU', 'cert_req_ou'],
  ];
  for (const [key, name] of subjectFields) {
    const value = r.check(name, key === 'C' ? v.checkCountry : (x) => v.checkSubjectField(x));
    if (value !== '') subject[key] = value;
  }

  const passphrase = r.optional('certs_passphrase_file', v.checkLocalPath);
  const sshOptions = get('ssh_options').split(/\s+/).filter(Boolean);
  for (const o of sshOptions) {
    const e = v.checkSshOption(o);
    if (e) throw new UsageError(`${where(r.origin('ssh_options'))}: ssh_options: ${e}`);
  }

  const settings: Settings = {
    projectDir,
    file,
    domain,
    days: Number(r.check('days', v.checkDays)),
    caDays: Number(r.check('ca_days', v.checkDays)),
    crlDays: Number(r.check('crl_days', v.checkDays)),
    caKey: keyAlgorithm === 'ec' ? ec : { algorithm: 'rsa', bits: caKeyBits },
    leafKey: keyAlgorithm === 'ec' ? ec : { algorithm: 'rsa', bits: keyBits },
    caKeyCipher,
    signingDigest: r.check('csr_digest', v.checkSigningDigest),
    fingerprintDigest,
    fingerprintKind: r.check('fingerprint_kind', (x) => v.checkOneOf(x, ['pubkey', 'cert'])) as 'pubkey' | 'cert',
    subject,
    caCommonName: r.check('ca_cert_req_cn', (x) => (x === '' ? 'is empty; set a common name for the CA' : v.checkSubjectField(x))),
    server: servers[0]!,
    servers,
    clients,
    certsRemoteDir: r.check('certs_remote_dir', v.checkRemotePath),
    tableType: r.check('relay_clientcerts_table_type', (x) => v.checkOneOf(x, ['texthash', 'hash', 'lmdb', 'cdb'])) as TableType,
    relayTlsProfile: r.check('relay_tls_profile', (x) => v.checkOneOf(x, ['intermediate', 'modern'])) as TlsProfile,
    passphraseFile: passphrase === undefined ? undefined : path.resolve(projectDir, passphrase),
    sshOptions,
    clientHostLookup: r.optional('smtp_client_host_lookup', v.checkHostLookup)?.split(/[\s,]+/).filter(Boolean).join(', '),
    probeHost: r.optional('smtp_probe_host', v.checkProbeHost)?.toLowerCase(),
    senderDomains: readSenderDomains(r, domain),
    warnings,
  };
  checkRemotePaths(settings, (name) => where(r.origin(name)));
  sources.set(settings, text);
  return settings;
}

/** The project's domain, then sender_domains (each a DNS name, once). */
function readSenderDomains(r: Reader, domain: string): string[] {
  const out = [domain.toLowerCase()];
  for (const word of r.get('sender_domains').split(/\s+/).filter(Boolean)) {
    const e = v.checkFqdn(word);
    if (e) throw new UsageError(`${where(r.origin('sender_domains'))}: sender_domains: ${e}; list domain names, e.g. "example.org example.net"`);
    if (!out.includes(word.toLowerCase())) out.push(word.toLowerCase());
  }
  return out;
}

/**
 * The relays: smtpd_server_hostname (the seed's one relay) first, then smtpd_server_hostnames. They share
 * the service settings (port, Postfix directory, allowlist path, log level) and the ssh user and port;
 * smtpd_server_ssh_host addresses the first, the others are reached by their fqdn (as the clients).
 */
function readRelays(r: Reader, domain: string): Server[] {
  const fqdns: string[] = [];
  const first = r.origin('smtpd_server_hostname') !== undefined || r.origin('smtpd_server_fqdn')?.file !== '<default>';
  if (first || r.get('smtpd_server_hostnames') === '') {
    r.check('smtpd_server_hostname', v.checkHostnameOrFqdn, true);
    fqdns.push(r.check('smtpd_server_fqdn', (x) => v.checkFqdn(x) ?? v.checkCommonName(x), true).toLowerCase());
  }
  const words = r.get('smtpd_server_hostnames').split(/\s+/).filter(Boolean);
  words.forEach((word, i) => {
    const fq = (word.includes('.') ? word : `${word}.${domain}`).toLowerCase();
    const e = (word.includes('.') ? v.checkFqdn(word) : v.checkHostname(word)) ?? v.checkCommonName(fq);
    if (e) throw new UsageError(`${where(r.origin('smtpd_server_hostnames'))}: smtpd_server_hostnames: ${e}`);
    // The whole list in one setting, the first relay included, is fine; anything else twice is not.
    if (i === 0 && fq === fqdns[0]) return;
    if (fqdns.includes(fq)) {
      throw new UsageError(`${where(r.origin('smtpd_server_hostnames'))}: smtpd_server_hostnames names ${fq} twice (or again after smtpd_server_hostname, not first); remove the duplicate`);
    }
    fqdns.push(fq);
  });
  const firstSsh = r.optional('smtpd_server_ssh_host', v.checkSshHost);
  const user = r.check('smtpd_server_ssh_user', v.checkUser);
  const sshPort = Number(r.check('smtpd_server_ssh_port', v.checkPort));
  const postfixDir = r.check('smtpd_server_postfix_dir', v.checkRemotePath);
  const tlsLoglevel = Number(r.check('smtpd_server_tls_loglevel', v.checkLoglevel));
  const port = Number(r.check('smtpd_server_port', v.checkPort));
  const relayClientcertsPath = r.check('smtpd_server_relay_clientcerts_in', v.checkRemotePath);
  return fqdns.map((fqdn, i) => ({
    role: 'server',
    fqdn,
    ssh: { user, host: (i === 0 ? firstSsh : undefined) ?? fqdn, port: sshPort },
    postfixDir,
    tlsLoglevel,
    port,
    relayClientcertsPath,
  }));
}
