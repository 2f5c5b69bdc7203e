// The Postfix settings each host needs, as data. Templates print them; `check` compares against them.
import { remoteFiles } from '../files/layout.js';
import { TABLE_SUFFIX } from '../settings/remote-layout.js';
import { isRelay as isRelayHost, type Host, type Server, type Settings, type TlsProfile } from '../settings/index.js';

export interface Param {
  readonly name: string;
  readonly value: string;
}

/** Parameters for Postfix ≥ 3.4 (chain files) and for older versions (the legacy pair). */
export interface TlsFileParams {
  readonly modern: readonly Param[];
  readonly legacy: readonly Param[];
}

/**
 * Where a client sends its mail: Postfix ≥ 3.5 takes every relay in relayhost, tried in order with the TLS
 * policy looked up per relay; older versions take one relayhost and the others as smtp_fallback_relay, set
 * on the relay service only (no other delivery of the host falls back to a relay).
 */
export interface RelayRoute {
  /** main.cf: relayhost. */
  readonly main: readonly Param[];
  /** The relay service's -o smtp_fallback_relay. */
  readonly overrides: readonly Param[];
}

/**
 * The TLS protocols of relay_tls_profile: Postfix ≥ 3.6 takes a range (">=TLSv1.2"), older versions the
 * exclusion list that means the same (apply.sh and check choose by mail_version, like the chain files).
 */
export interface ProtocolParams {
  readonly ranged: readonly Param[];
  readonly excluded: readonly Param[];
}

export interface RelayParams {
  readonly list: RelayRoute;
  readonly fallback: RelayRoute;
}

/**
 * A client. main.cf gets only the routing (relayhost, default_transport = the relay service); the relay-bound
 * TLS policy and the client certificate are -o overrides of that master.cf service, so the host's other
 * deliveries (transport_maps entries naming smtp:, relay_transport, sender_dependent_default_transport_maps)
 * keep the host's own smtp_tls_* settings and never present the certificate.
 */
export interface ClientConfig {
  /** main.cf parameters for every Postfix version; relayhost is in `relays`. */
  readonly main: readonly Param[];
  readonly relays: RelayParams;
  /** master.cf service name, e.g. "postfix-tls-relay/unix". */
  readonly service: string;
  /** Full master.cf entry for `postconf -M`. */
  readonly entry: string;
  /** The entry's fields as `postconf -Fh` prints them: type private unprivileged chroot wakeup process_limit command. */
  readonly fields: readonly string[];
  /** The relay-bound TLS policy (-o), for every Postfix version. */
  readonly overrides: readonly Param[];
  /** The client certificate (-o). */
  readonly tlsFiles: TlsFileParams;
  readonly protocols: ProtocolParams;
  /** Obsolete parameters removed with `postconf -X` when present (left by the Makefile's snippet). */
  readonly obsolete: readonly string[];
  /**
   * What versions up to 0.1 set globally in main.cf, with every value they could have set (a name can
   * appear twice). A host is in that layout when main.cf names our CA file or our certificate; deploy then
   * puts each of these that still has such a value back to the recorded one or removes it.
   */
  readonly former: readonly Param[];
  /** main.cf values that mark the former global layout (our CA file, our key and certificate). */
  readonly formerMarkers: readonly Param[];
}

export interface RelayConfig {
  /** master.cf service name, e.g. "2500/inet". */
  readonly service: string;
  /** Full master.cf entry for `postconf -M`. */
  readonly entry: string;
  /** The entry's fields as `postconf -Fh` prints them: type private unprivileged chroot wakeup process_limit command. */
  readonly fields: readonly string[];
  readonly overrides: readonly Param[];
  readonly tlsFiles: TlsFileParams;
  readonly protocols: ProtocolParams;
  readonly table: { readonly type: string; readonly path: string; readonly needsPostmap: boolean; readonly dbSuffix: string };
}

/** The client's master.cf service for the relay traffic (a transport name for default_transport). */
export const CLIENT_SERVICE = 'postfix-tls-relay';

const p = (name: string, value: string): Param => ({ name, value });

/** Lowest protocol of each profile (modern: TLS 1.3 only). */
const FLOOR: Record<TlsProfile, { ranged: string; excluded: string }> = {
  intermediate: { ranged: '>=TLSv1.2', excluded: '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1' },
  modern: { ranged: '>=TLSv1.3', excluded: '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2' },
};

/**
 * TLS 1.2 suites of both profiles, in the relay's order (Mozilla's "intermediate" without DHE): ECDHE key
 * exchange with AES-GCM or ChaCha20-Poly1305, for ECDSA and RSA keys. No CBC (LUCKY13), no static RSA (no
 * forward secrecy). TLS 1.3 suites are all AEAD with forward secrecy and not governed by these lists.
 */
export const RELAY_TLS12_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/**
 * The same suites for the client, taken out of Postfix's "high" grade: tls_medium_cipherlist is one global
 * main.cf parameter there (it would change the client's own port 25), smtp_tls_mandatory_exclude_ciphers
 * only what the client's mandatory-TLS deliveries accept. test/unit checks it expands to RELAY_TLS12_SUITES.
 */
export const CLIENT_EXCLUDED_CIPHERS = 'kRSA,kDHE,PSK,SRP,SHA1,SHA256,SHA384,CAMELLIA,ARIA,AESCCM'; // no whitespace: a -o value

/**
 * The relay's TLS policy (relay_tls_profile) for `smtp` (a client, relay-bound deliveries) or `smtpd` (the
 * relay's service only, as -o overrides: tls_medium_cipherlist and tls_preempt_cipherlist are global
 * parameters, an override sets them for that service's smtpd processes and leaves port 25 as it was).
 */
export function tlsFloor(prefix: 'smtp' | 'smtpd', profile: TlsProfile): { params: Param[]; protocols: ProtocolParams } {
  const floor = FLOOR[profile];
  // The service requires TLS (encrypt), so the mandatory_* settings apply; the opportunistic ones are set
  // the same on the relay so that its offer does not depend on the security level.
  const names = prefix === 'smtpd' ? ['smtpd_tls_mandatory_protocols', 'smtpd_tls_protocols'] : ['smtp_tls_mandatory_protocols'];
  const protocols = {
    ranged: names.map((n) => p(n, floor.ranged)),
    excluded: names.map((n) => p(n, floor.excluded)),
  };
  if (prefix === 'smtp') {
    return { params: [p('smtp_tls_mandatory_ciphers', 'high'), p('smtp_tls_mandatory_exclude_ciphers', CLIENT_EXCLUDED_CIPHERS)], protocols };
  }
  return {
    params: [
      p('smtpd_tls_mandatory_ciphers', 'medium'),
      p('smtpd_tls_ciphers', 'medium'),
      p('tls_medium_cipherlist', RELAY_TLS12_SUITES.join(':')),
      p('tls_preempt_cipherlist', 'yes'),
    ],
    protocols,
  };
}

/** What apply.sh will choose on a host by its mail_version, for `deploy -n` (which does not ask the host). */
export function protocolChoice(s: Settings, host: Host): { profile: TlsProfile; ranged: string; excluded: string } {
  const c = isRelayHost(host) ? relayConfig(s, host) : clientConfig(s, host);
  // As apply.sh sets them: -o of the relay's service, or of the client's relay service.
  const show = (ps: readonly Param[]) => ps.map((q) => `${c.service}/${q.name}=${q.value}`).join(', ');
  const x = c.protocols;
  return { profile: s.relayTlsProfile, ranged: show(x.ranged), excluded: show(x.excluded) };
}

/** Whether Postfix `mailVersion` (mail_version, "3.7.11") is `major`.`minor` or later. */
export function postfixAtLeast(mailVersion: string, major: number, minor: number): boolean {
  const [ma = 0, mi = 0] = mailVersion.trim().split('.').map((x) => Number.parseInt(x, 10));
  return ma > major || (ma === major && mi >= minor);
}

/** Postfix 3.6 and later take a protocol range (">=TLSv1.3"); apply.sh chooses the same way. */
export function takesProtocolRange(mailVersion: string): boolean {
  return postfixAtLeast(mailVersion, 3, 6);
}

/** The relay-bound TLS policy that versions up to 0.1 set in main.cf (for every destination of the host). */
const FORMER_TLS = (caCert: string, host: Host): Param[] => [
  p('smtp_tls_security_level', 'secure'),
  p('smtp_tls_CAfile', caCert),
  p('smtp_tls_CApath', ''),
  p('smtp_tls_loglevel', String(host.tlsLoglevel)),
  p('smtp_tls_mandatory_protocols', '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1'),
  p('smtp_tls_mandatory_ciphers', 'high'),
];

export function clientConfig(s: Settings, host: Host): ClientConfig {
  const f = remoteFiles(s, host);
  const relays = relayParams(s.servers);
  const floor = tlsFloor('smtp', s.relayTlsProfile);
  const overrides = [
    p('smtp_tls_security_level', 'secure'),
    p('smtp_tls_CAfile', f.caCert),
    // Debian points CApath at every public CA: any of them could then vouch for the relay's name.
    p('smtp_tls_CApath', ''),
    p('smtp_tls_loglevel', String(host.tlsLoglevel)),
    // The relay's suites, on the client's side too (security level secure uses the mandatory settings);
    // the protocols are in `protocols` (their syntax depends on the host's Postfix).
    ...floor.params,
  ];
  const tlsFiles = {
    modern: [p('smtp_tls_chain_files', `${f.key},${f.cert}`), p('smtp_tls_cert_file', ''), p('smtp_tls_key_file', '')],
    legacy: [p('smtp_tls_cert_file', f.cert), p('smtp_tls_key_file', f.key)],
  };
  const hops = s.servers.map(nexthop);
  return {
    relays,
    main: [
      // No next hop: the service takes relayhost's (and its smtp_fallback_relay).
      p('default_transport', CLIENT_SERVICE),
      // How the client finds the relay's address: set only when asked (e.g. a name in /etc/hosts only).
      ...(s.clientHostLookup ? [p('smtp_host_lookup', s.clientHostLookup)] : []),
    ],
    service: `${CLIENT_SERVICE}/unix`,
    entry: `${CLIENT_SERVICE} unix - - n - - smtp`,
    fields: ['unix', '-', '-', 'n', '-', '-', 'smtp'],
    overrides,
    tlsFiles,
    protocols: floor.protocols,
    obsolete: ['smtp_enforce_tls', 'smtp_tls_enforce_peername'],
    former: [p('smtp_fallback_relay', ''), p('smtp_fallback_relay', hops.slice(1).join(', ')), ...FORMER_TLS(f.caCert, host), ...tlsFiles.modern, ...tlsFiles.legacy],
    formerMarkers: [p('smtp_tls_CAfile', f.caCert), tlsFiles.modern[0]!, tlsFiles.legacy[0]!],
  };
}

/** `[fqdn]:port`: brackets, no MX lookup; the relay's certificate must name it (security level secure). */
export const nexthop = (r: Server): string => `[${r.fqdn}]:${r.port}`;

export function relayParams(relays: readonly Server[]): RelayParams {
  const hops = relays.map(nexthop);
  return {
    // smtp_fallback_relay emptied too: a relay taken out of the settings leaves every list.
    list: { main: [p('relayhost', hops.join(', '))], overrides: [p('smtp_fallback_relay', '')] },
    // A -o value has no whitespace: the list is joined with commas only.
    fallback: { main: [p('relayhost', hops[0] ?? '')], overrides: [p('smtp_fallback_relay', hops.slice(1).join(','))] },
  };
}

/** Postfix 3.5 and later take a list of destinations in relayhost (apply.sh chooses the same way). */
export function takesRelayList(mailVersion: string): boolean {
  return postfixAtLeast(mailVersion, 3, 5);
}


/** The relay service of one relay (its own key and certificate; the rest is the same on every relay). */
export function relayConfig(s: Settings, relay: Server = s.server): RelayConfig {
  const f = remoteFiles(s, relay);
  const path = relay.relayClientcertsPath;
  const floor = tlsFloor('smtpd', s.relayTlsProfile);
  return {
    service: `${relay.port}/inet`,
    entry: `${relay.port} inet n - n - - smtpd`,
    fields: ['inet', 'n', '-', 'n', '-', '-', 'smtpd'],
    overrides: [
      p('smtpd_tls_security_level', 'encrypt'),
      // Only certificates from our CA get past TLS; the allowlist then picks the hosts.
      p('smtpd_tls_req_ccert', 'yes'),
      p('smtpd_tls_ask_ccert', 'yes'),
      p('smtpd_tls_CAfile', f.caCert),
      p('smtpd_tls_CApath', ''),
      p('smtpd_tls_loglevel', String(relay.tlsLoglevel)),
      // relay_tls_profile: forward secrecy and AEAD suites only, the relay's order (protocols below).
      ...floor.params,
      // Explicit: the default digest depends on compatibility_level (md5 before 3.6, sha256 after).
      p('smtpd_tls_fingerprint_digest', s.fingerprintDigest),
      p('relay_clientcerts', `${s.tableType}:${path}`),
      p('smtpd_relay_restrictions', 'permit_tls_clientcerts,reject'),
      // main.cf policies (e.g. reject_unknown_client_hostname) must not block a dynamic-IP client.
      p('smtpd_client_restrictions', ''),
      p('smtpd_helo_restrictions', ''),
      p('smtpd_sender_restrictions', ''),
      p('smtpd_recipient_restrictions', ''),
      p('smtpd_data_restrictions', ''),
    ],
    tlsFiles: {
      modern: [p('smtpd_tls_chain_files', `${f.key},${f.cert}`), p('smtpd_tls_cert_file', ''), p('smtpd_tls_key_file', '')],
      legacy: [p('smtpd_tls_cert_file', f.cert), p('smtpd_tls_key_file', f.key)],
    },
    protocols: floor.protocols,
    table: { type: s.tableType, path, needsPostmap: s.tableType !== 'texthash', dbSuffix: TABLE_SUFFIX[s.tableType] },
  };
}
