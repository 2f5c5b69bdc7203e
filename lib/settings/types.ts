// The typed settings, as loadSettings returns them (a module of its own so that the modules that
// derive from them need not import the loader).
export type Role = 'client' | 'server';
/** The key a host or the CA gets (key_algorithm, rsa_bits). */
/** The key a host or the CA gets (key_algorithm, rsa_bits). */
export type KeySpec = { algorithm: 'rsa'; bits: number } | { algorithm: 'ec'; curve: 'P-256' };
/** relay_tls_profile: what the relay's service offers and the clients' relay-bound TLS accepts. */
export type TlsProfile = 'intermediate' | 'modern';
export type TableType = 'texthash' | 'hash' | 'lmdb' | 'cdb';

export interface SshTarget {
  readonly user: string;
  readonly host: string;
  readonly port: number;
}

export interface Host {
  readonly role: Role;
  readonly fqdn: string;
  readonly ssh: SshTarget;
  readonly postfixDir: string;
  readonly tlsLoglevel: number;
}

export interface Server extends Host {
  readonly role: 'server';
  readonly port: number;
  readonly relayClientcertsPath: string;
}

export const isRelay = (h: Host): h is Server => h.role === 'server';

export interface Subject {
  readonly C?: string;
  readonly ST?: string;
  readonly L?: string;
  readonly O?: string;
  readonly OU?: string;
}

export interface Settings {
  /** Absolute project directory; every generated path is relative to it. */
  readonly projectDir: string;
  /** The settings file read, absolute, or undefined when there was none. */
  readonly file: string | undefined;
  readonly domain: string;
  readonly days: number;
  readonly caDays: number;
  readonly crlDays: number;
  readonly caKey: KeySpec;
  readonly leafKey: KeySpec;
  readonly caKeyCipher: string;
  readonly signingDigest: string;
  readonly fingerprintDigest: string;
  readonly fingerprintKind: 'pubkey' | 'cert';
  readonly subject: Subject;
  readonly caCommonName: string;
  /** The first relay: the seed's smtpd_server_hostname (servers[0]). */
  readonly server: Server;
  /** Every relay, in the order clients try them (smtpd_server_hostname, then smtpd_server_hostnames). */
  readonly servers: readonly Server[];
  readonly clients: readonly Host[];
  readonly certsRemoteDir: string;
  readonly tableType: TableType;
  readonly relayTlsProfile: TlsProfile;
  /** Absolute path of the gpg-encrypted CA passphrase, or undefined when not set. */
  readonly passphraseFile: string | undefined;
  readonly sshOptions: readonly string[];
  /** smtp_host_lookup for the clients' Postfix ("dns, native"); undefined leaves each host's own. */
  readonly clientHostLookup: string | undefined;
  /** smtp_probe_host: what check --live dials on port 25; undefined: the first MX of the domain. */
  readonly probeHost: string | undefined;
  /** The domain, then sender_domains: the domains whose SPF record must authorize the relays. */
  readonly senderDomains: readonly string[];
  /** Non-fatal remarks, one line each. */
  readonly warnings: readonly string[];
}
