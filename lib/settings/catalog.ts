// Every setting the tool knows: its default (make syntax, may reference other settings), whether the
// seed Makefile had it, and what it means. The README's settings table is generated from this list.
export interface SettingInfo {
  readonly name: string;
  /** Default in make syntax, applied like `name ?= default`; undefined = required or empty. */
  readonly default?: string;
  readonly seed: boolean;
  readonly doc: string;
}

export const SETTINGS: readonly SettingInfo[] = [
  { name: 'domain', seed: true, doc: 'Mail domain; names the CA files (`<domain>-ca`) and completes host names. Required.' },
  { name: 'days', default: '365', seed: true, doc: 'Validity of the relay and client certificates, in days.' },
  { name: 'ca_days', default: '3650', seed: false, doc: 'Validity of the CA certificate, in days.' },
  { name: 'crl_days', default: '30', seed: false, doc: 'Validity of the CRL written by `revoke`, in days.' },
  { name: 'ca_key_bits', default: '4096', seed: true, doc: 'RSA size of the CA key (with `key_algorithm = rsa`).' },
  { name: 'ca_key_cipher', default: 'aes256', seed: true, doc: 'Cipher that encrypts the CA key; the seed\'s `des3` works, with a warning.' },
  { name: 'csr_digest', default: 'sha256', seed: true, doc: 'Signature digest of requests and certificates (sha224/256/384/512).' },
  { name: 'signature_hash', default: 'sha256', seed: true, doc: 'Digest of the fingerprints in `relay_clientcerts`; the relay service sets `smtpd_tls_fingerprint_digest` to it.' },
  { name: 'fingerprint_kind', default: 'pubkey', seed: false, doc: '`pubkey` (public-key fingerprint, survives renewal) or `cert` (certificate fingerprint).' },
  { name: 'key_algorithm', default: 'rsa', seed: false, doc: '`rsa` or `ec` (P-256) for every key, the CA\'s included.' },
  { name: 'key_bits', default: '2048', seed: false, doc: 'RSA size of relay and client keys (the seed Makefile\'s unset `${bits}` meant openssl\'s 2048).' },
  { name: 'cert_req_country', seed: true, doc: 'Subject C (two letters); empty leaves it out.' },
  { name: 'cert_req_state', seed: true, doc: 'Subject ST; empty leaves it out.' },
  { name: 'cert_req_locality', seed: true, doc: 'Subject L; empty leaves it out.' },
  { name: 'cert_req_organization', seed: true, doc: 'Subject O; empty leaves it out.' },
  { name: 'cert_req_ou', seed: true, doc: 'Subject OU; empty leaves it out.' },
  { name: 'ca_cert_req_cn', default: '${domain} relay CA', seed: true, doc: 'Common name of the CA certificate.' },
  { name: 'smtp_client_hostname', seed: true, doc: 'Host name of the (first) smtp client, the internal mail host.' },
  { name: 'smtp_client_fqdn', default: '${smtp_client_hostname}.${domain}', seed: true, doc: 'Its fully qualified name: certificate CN and SAN.' },
  { name: 'smtp_client_hostnames', seed: false, doc: 'More clients, space-separated: host names (completed with `.domain`) or fqdns.' },
  { name: 'smtp_client_ssh_user', default: 'root', seed: true, doc: 'SSH user for deploying to the clients.' },
  { name: 'smtp_client_ssh_host', seed: false, doc: 'SSH address of the first client (default: its fqdn; other clients use their fqdn).' },
  { name: 'smtp_client_ssh_port', default: '22', seed: false, doc: 'SSH port of the clients.' },
  { name: 'smtp_client_tls_loglevel', default: '1', seed: true, doc: '`smtp_tls_loglevel` on the clients (0-4).' },
  { name: 'smtp_client_host_lookup', seed: false, doc: '`smtp_host_lookup` on the clients: `dns` (Postfix\'s default), `native` (the system resolver, e.g. /etc/hosts) or `dns, native`; empty leaves each client\'s own. `check` resolves the relay the same way.' },
  { name: 'smtp_client_postfix_dir', default: '/etc/postfix', seed: false, doc: 'Postfix config directory on the clients (`postconf -c`), for multi-instance Postfix.' },
  { name: 'smtpd_server_hostname', seed: true, doc: 'Host name of the (first) relay, the smtpd server. Required unless `smtpd_server_hostnames` is set.' },
  { name: 'smtpd_server_fqdn', default: '${smtpd_server_hostname}.${domain}', seed: true, doc: 'Its fully qualified name: certificate CN and SAN, and the first entry of the clients\' relayhost.' },
  { name: 'smtpd_server_hostnames', seed: false, doc: 'Backup relays, space-separated, in the order clients try them: host names (completed with `.domain`) or fqdns. Each gets its own key and certificate, the same allowlist and service settings.' },
  { name: 'smtpd_server_port', default: '2500', seed: true, doc: 'Port of the relay\'s smtpd service.' },
  { name: 'smtpd_server_ssh_user', default: 'root', seed: true, doc: 'SSH user for deploying to the relays.' },
  { name: 'smtpd_server_ssh_host', seed: false, doc: 'SSH address of the first relay (default: its fqdn; other relays use their fqdn).' },
  { name: 'smtpd_server_ssh_port', default: '22', seed: false, doc: 'SSH port of the relays.' },
  { name: 'smtpd_server_tls_loglevel', default: '1', seed: true, doc: '`smtpd_tls_loglevel` of the relay service (0-4).' },
  { name: 'smtpd_server_postfix_dir', default: '/etc/postfix', seed: false, doc: 'Postfix config directory on the relay (`postconf -c`).' },
  { name: 'smtpd_server_relay_clientcerts_in', default: '${smtpd_server_postfix_dir}/relay_clientcerts', seed: true, doc: 'Path of the allowlist on the relay.' },
  { name: 'relay_tls_profile', default: 'intermediate', seed: false, doc: 'TLS on the relay\'s service and the clients\' way to it: `intermediate` (TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305 only, and TLS 1.3; the relay\'s cipher order) or `modern` (TLS 1.3 only). See SECURITY.md.' },
  { name: 'relay_clientcerts_table_type', default: 'texthash', seed: false, doc: 'Lookup table type of the allowlist: `texthash` (no postmap), `hash`, `lmdb` or `cdb`.' },
  { name: 'certs_remote_dir', default: '/etc/postfix-tls-based-relaying', seed: false, doc: 'Where certificates and keys live on the hosts.' },
  { name: 'certs_passphrase_file', seed: true, doc: 'GnuPG-encrypted file holding the CA passphrase (decrypted once per run, never to disk).' },
  { name: 'smtp_probe_host', seed: false, doc: 'Host (or `HOST:PORT`) that `check --live` dials on port 25 from every host it checks (banner, EHLO, QUIT; never a mail) to see whether outbound SMTP is open, blocked or intercepted; empty: the first MX of `domain` as each host resolves it.' },
  { name: 'sender_domains', seed: false, doc: 'More domains whose mail the relays carry, space-separated, besides `domain`: `dns` prints and checks the SPF record of each.' },
  { name: 'ssh_options', seed: false, doc: 'Extra `-o KEY=VALUE` options (space-separated KEY=VALUE) for every ssh and rsync call.' },
];

/** Set by the seed's settings.mk.example for its own Makefile, unused by this tool: one warning. */
export const SEED_UNUSED = [
  'certs_virt_root', 'certs_root_dir', 'certs_ca_dir', 'certs_smtp_client_dir', 'certs_smtpd_server_dir',
  'ca_name', 'ca_privatekey', 'ca_certificate', 'bits',
];

/** Variables the seed Makefile defines itself; a settings.mk may reference them. */
export const MAKEFILE_DEFAULTS: Record<string, string> = {
  app_name: 'postfix-tls-based-relaying',
  app_remote_root: '/etc/postfix-tls-based-relaying',
};

export const KNOWN = new Set(SETTINGS.map((s) => s.name));
