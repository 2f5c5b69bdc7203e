// Where every file lives: in the project directory (relative paths, as the commands see them) and on the hosts.
import path from 'node:path';
import type { Host, Settings } from '../settings/index.js';
import { UsageError } from '../errors.js';

// Where files go on the hosts is derived from the settings alone: settings/remote-layout.ts owns it.
export { ROLE_DIR, remoteFiles, type RemoteFiles } from '../settings/remote-layout.js';
import { ROLE_DIR } from '../settings/remote-layout.js';

/** A path as the user names it in messages: relative to the working directory (or the path itself when that is it). */
export const shownPath = (file: string): string => path.relative(process.cwd(), file) || file;

export interface CaFiles {
  readonly dir: string;
  readonly key: string;
  readonly cert: string;
  readonly crl: string;
  /** openssl req config of the CA certificate (subject, v3_ca). */
  readonly reqConfig: string;
  /** openssl ca config: database, policy, defaults. */
  readonly caConfig: string;
  readonly dbDir: string;
  readonly index: string;
  readonly indexAttr: string;
  readonly crlnumber: string;
  readonly newcerts: string;
}

export interface HostFiles {
  readonly key: string;
  readonly csr: string;
  readonly cert: string;
  /** Request and extension config of this host. */
  readonly config: string;
}


export function caFiles(s: Settings): CaFiles {
  const dir = 'certs/ca';
  const name = `${s.domain}-ca`;
  const dbDir = `${dir}/db`;
  return {
    dir,
    key: `${dir}/${name}.key.pem`,
    cert: `${dir}/${name}.crt.pem`,
    crl: `${dir}/${name}.crl.pem`,
    reqConfig: `${dir}/${name}.cnf`,
    caConfig: `${dir}/openssl-ca.cnf`,
    dbDir,
    index: `${dbDir}/index.txt`,
    indexAttr: `${dbDir}/index.txt.attr`,
    crlnumber: `${dbDir}/crlnumber`,
    newcerts: `${dbDir}/newcerts`,
  };
}

export function hostFiles(host: Pick<Host, 'role' | 'fqdn'>): HostFiles {
  const base = `certs/${ROLE_DIR[host.role]}/${host.fqdn}`;
  return { key: `${base}.key.pem`, csr: `${base}.csr.pem`, cert: `${base}.crt.pem`, config: `${base}.cnf` };
}

/** The allowlist as built locally (seed path). */
export const ALLOWLIST = 'etc/postfix/relay_clientcerts';
export const AUDIT_LOG = 'audit.log';
export const STATE_DIR = '.postfix-tls-relay';
export const STATE_FILE = `${STATE_DIR}/state.json`;
/** What the project's directories held when last read (files/tree.ts): a cache, rebuilt when missing. */
export const TREE_FILE = `${STATE_DIR}/tree.json`;
/** The last build that found everything up to date: its plan's key and the trees' digest (state/up-to-date.ts). */
export const UP_TO_DATE_FILE = `${STATE_DIR}/up-to-date.json`;
/** Facts of the project's certificates by file identity (state/cert-facts.ts): a cache, rebuilt when missing. */
export const CERT_FACTS_FILE = `${STATE_DIR}/cert-facts.json`;
/** The tool's own records and caches, written atomically (a killed run can leave their temp files). */
export const BOOKKEEPING_FILES = [STATE_FILE, TREE_FILE, UP_TO_DATE_FILE, CERT_FACTS_FILE];
export const LOCK_FILE = `${STATE_DIR}/lock`;
/** Clients whose previous key or certificate stays on the allowlist until their rotation finishes. */
export const ROTATIONS_FILE = `${STATE_DIR}/rotations.json`;
/** Each host's key identity and the revoked keys (state/key-identities.ts): carries trust, kept by clean. */
export const KEYS_FILE = `${STATE_DIR}/keys.json`;
/** The allowlist each relay got on its last successful deploy (a revocation is complete once all have the current one). */
export const RELAYS_DEPLOYED_FILE = `${STATE_DIR}/relays-deployed.json`;
/** What the last deploy or check found on each host (monitoring reads it). */
export const DEPLOYMENTS_FILE = `${STATE_DIR}/deployments.json`;

/** Where a replaced key is kept (renew --rekey, reissue after revoke): never deleted, only set aside. */
export function retiredKey(host: Pick<Host, 'role' | 'fqdn'>, serial: string): string {
  return `certs/${ROLE_DIR[host.role]}/retired/${host.fqdn}.${serial}.key.pem`;
}


export function bundleDir(host: Host): string {
  return `out/${host.fqdn}`;
}

/** Path inside a bundle's root/ for an absolute target path on the host. */
export function inBundle(host: Host, remotePath: string): string {
  return path.posix.join(bundleDir(host), 'root', remotePath);
}

/** Every host, the relays first (in their order), then the clients. */
export function allHosts(s: Settings): Host[] {
  return [...s.servers, ...s.clients];
}

/** A host of the settings by fqdn or by host name (completed with the domain, as settings.mk does). */
export function findHost(s: Settings, name: string): Host | undefined {
  const fqdn = (name.includes('.') ? name : `${name}.${s.domain}`).toLowerCase().replace(/\.$/, '');
  return allHosts(s).find((h) => h.fqdn === fqdn);
}

export type HostSelection = 'client' | 'server' | 'all';

/**
 * The hosts `deploy` and `check` work on, the relays first: a client must never start using a
 * certificate a relay does not trust yet.
 */
export function selectHosts(s: Settings, which: HostSelection): Host[] {
  if (which === 'server') return [...s.servers];
  if (which === 'client') return [...s.clients];
  return allHosts(s);
}

/**
 * `selection` narrowed to the hosts named (fqdn or host name, completed with the domain), in the order
 * named; none named: all of it. A name not in it is a usage error (deploy and check take the same).
 */
export function namedHosts(command: string, selection: Host[], names: readonly string[] | undefined, domain: string): Host[] {
  if (!names?.length) return selection;
  return names.map((n) => {
    const h = selection.find((x) => x.fqdn === n || x.fqdn === `${n}.${domain}`);
    if (!h) throw new UsageError(`${command}: ${n} is not one of the selected hosts (${selection.map((x) => x.fqdn).join(', ')}); check smtpd_server_hostnames and smtp_client_hostnames in settings.mk`);
    return h;
  });
}
