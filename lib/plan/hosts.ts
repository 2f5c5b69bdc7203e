// Each host's steps: its request config, key, CSR and certificate.
import * as openssl from '../programs/openssl.js';
import { allHosts, caFiles, hostFiles, type CaFiles } from '../files/layout.js';
import type { Host, Settings } from '../settings/index.js';
import type { ProjectState } from '../state/project.js';
import { CA_DB, conf, dbFiles, dn, exec, passFile } from './make.js';
import type { CopyStep, Step } from './step.js';

export interface HostRequest {
  /** Re-sign these hosts' certificates now (renew), with their key unless listed in `rekey`. */
  renew?: ReadonlySet<string>;
  /** Hosts that get a new key now → where the old key is set aside first (undefined: there is none). */
  rekey?: ReadonlyMap<string, string | undefined>;
  /** Hosts whose current certificate is revoked: only their config is kept up to date. */
  frozen?: ReadonlySet<string>;
}

/**
 * Hosts whose current certificate is revoked and that this run does not issue again: nothing of theirs is
 * re-made (a changed setting must not quietly re-issue the revoked key) and the allowlist leaves them out.
 */
export function revokedHosts(s: Settings, state: ProjectState, renew?: ReadonlySet<string>): Set<string> {
  return new Set(allHosts(s).filter((h) => !renew?.has(h.fqdn) && state.isRevoked(hostFiles(h).cert)).map((h) => h.fqdn));
}

export function hostSteps(s: Settings, host: Host, ca: CaFiles = caFiles(s), opts: HostRequest = {}): Step[] {
  const f = hostFiles(host);
  const pass = passFile(s);
  const isServer = host.role === 'server';
  const rekey = opts.rekey?.has(host.fqdn) === true;
  const retired = opts.rekey?.get(host.fqdn);
  const newKey = (tmp: string) => openssl.genpkey({ key: s.leafKey, out: tmp });
  const keySteps: Step[] = !rekey
    ? [exec(`key:${host.fqdn}`, `key ${f.key}`, [], f.key, 0o600, newKey, { createOnly: true })]
    : [
      ...(retired === undefined ? [] : [{
        kind: 'copy', id: `retire-key:${host.fqdn}`, title: `set the old key aside as ${retired}`,
        inputs: [f.key], outputs: [retired], source: f.key, output: retired, mode: 0o600,
      } satisfies CopyStep]),
      // Replaces the key: the only step that may, and only when asked (renew --rekey).
      exec(`key:${host.fqdn}`, `new key ${f.key}`, [], f.key, 0o600, newKey, { after: retired === undefined ? [] : [retired], force: 'new key requested' }),
    ];
  const renew = rekey || opts.renew?.has(host.fqdn) === true;
  const config = conf(`config:${host.fqdn}`, `request config ${f.config}`, f.config, 'leaf.cnf', {
    dn: dn(s.subject, host.fqdn),
    fqdn: host.fqdn,
    roleName: isServer ? 'smtpd server, the relay' : 'smtp client',
    keyUsage: s.leafKey.algorithm === 'rsa' ? 'digitalSignature, keyEncipherment' : 'digitalSignature',
    extendedKeyUsage: isServer ? 'serverAuth' : 'clientAuth',
  });
  if (opts.frozen?.has(host.fqdn)) return [config];
  return [
    config,
    ...keySteps,
    exec(`csr:${host.fqdn}`, `request ${f.csr}`, [f.key, f.config], f.csr, 0o644,
      (tmp) => openssl.req({ config: f.config, key: f.key, out: tmp, digest: s.signingDigest })),
    // Depends on the CA's key and name, not on its certificate: renew --ca (same key and name) re-issues nothing.
    exec(`cert:${host.fqdn}`, `certificate ${f.cert}`, [f.csr, f.config, ca.key, ca.reqConfig, ca.caConfig], f.cert, 0o644,
      (tmp) => openssl.caSign({ config: ca.caConfig, extfile: f.config, extensions: 'leaf_ext', csr: f.csr, out: tmp, passphraseFile: pass }),
      { serial: CA_DB, after: [...dbFiles(ca), ca.cert], ...(renew ? { force: rekey ? 'new key requested' : 'renewal requested' } : {}) }),
  ];
}
