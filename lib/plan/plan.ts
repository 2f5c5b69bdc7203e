// settings → the ordered list of steps that builds the CA, every host's key and certificate,
// the relay's allowlist and each host's bundle.
import { tmpName } from '../files/atomic.js';
import * as openssl from '../programs/openssl.js';
import type { Command } from '../programs/command.js';
import { fingerprint, fingerprintShell } from '../ca/fingerprint.js';
import { ALLOWLIST, allHosts, bundleDir, caFiles, hostFiles, inBundle, remoteFiles, type CaFiles } from '../files/layout.js';
import { revokedSerials } from '../ca/database.js';
import { certSerial, unrecordedCerts } from '../ca/adopt.js';
import { loadRotations, retiringEntries, type Rotation } from '../ca/rotations.js';
import { clientConfig, relayConfig } from '../postfix/config.js';
import { confValue } from '../files/render.js';
import type { Host, Settings, Subject } from '../settings/index.js';
import { shq } from '../programs/shell.js';
import type { ActionStep, CopyStep, ExecStep, Step, WriteStep } from './step.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const TOOL_VERSION = '0.1.0';
const CA_DB = 'ca-database';

/** What a run does besides bringing files up to date; project state that shapes the plan. */
export interface PlanOptions {
  /** Re-sign these hosts' certificates now (renew), with their key unless listed in `rekey`. */
  renew?: ReadonlySet<string>;
  /** Hosts that get a new key now → where the old key is set aside first (undefined: there is none). */
  rekey?: ReadonlyMap<string, string | undefined>;
  /** Re-sign the CA certificate with its own key, with this new hex serial (renew --ca). */
  renewCaSerial?: string;
  /** Rotations in progress: previous fingerprints stay on the allowlist. */
  rotations?: readonly Rotation[];
  /** Serials revoked in the CA database: those certificates leave the allowlist. */
  revoked?: ReadonlySet<string>;
  /** Certificates our CA key signed outside the database (the Makefile's), recorded before anything is signed. */
  adopt?: readonly string[];
}

/** The project's state as the plan needs it (rotations, revocations, certificates to adopt). */
export function projectState(s: Settings): Required<Pick<PlanOptions, 'rotations' | 'revoked' | 'adopt'>> {
  return { rotations: loadRotations(s.projectDir), revoked: revokedSerials(s.projectDir, s), adopt: unrecordedCerts(s) };
}

function dn(subject: Subject, cn: string): string {
  const order: (keyof Subject)[] = ['C', 'ST', 'L', 'O', 'OU'];
  const lines = order.filter((k) => subject[k] !== undefined).map((k) => `${k} = ${confValue(subject[k]!)}`);
  lines.push(`CN = ${confValue(cn)}`);
  return lines.join('\n');
}

function conf(id: string, title: string, output: string, name: string, context: Record<string, string | number>): WriteStep {
  return { kind: 'write', id, title, inputs: [], outputs: [output], output, mode: 0o644, template: { engine: 'conf', name }, context, createOnly: false };
}

function exec(id: string, title: string, inputs: string[], output: string, mode: number, command: (tmp: string) => Command, extra: Partial<ExecStep> = {}): ExecStep {
  const tmp = tmpName(output);
  return { kind: 'exec', id, title, inputs, outputs: [output], output, tmp, mode, command: command(tmp), createOnly: false, ...extra };
}

function copy(id: string, source: string, output: string, mode: number): CopyStep {
  return { kind: 'copy', id, title: `bundle ${output}`, inputs: [source], outputs: [output], source, output, mode };
}

const passFile = (s: Settings) => s.passphraseFile ?? '${certs_passphrase_file}';
const dbFiles = (ca: CaFiles) => [ca.index, ca.indexAttr, ca.crlnumber, `${ca.newcerts}/.keep`];

export function caSteps(s: Settings, ca: CaFiles = caFiles(s), opts: Pick<PlanOptions, 'renewCaSerial'> = {}): Step[] {
  const pass = passFile(s);
  const caCert = opts.renewCaSerial === undefined
    ? exec('ca-cert', `CA certificate ${ca.cert}`, [ca.key, ca.reqConfig], ca.cert, 0o644,
      (tmp) => openssl.req({ config: ca.reqConfig, key: ca.key, out: tmp, digest: s.signingDigest, x509: { days: s.caDays }, passphraseFile: pass }))
    // Same key and subject: every certificate it issued still verifies, none is re-issued.
    : exec('ca-cert', `CA certificate ${ca.cert} (re-signed with its key)`, [ca.key, ca.reqConfig], ca.cert, 0o644,
      (tmp) => openssl.caResign({ cert: ca.cert, key: ca.key, config: ca.reqConfig, days: s.caDays, digest: s.signingDigest, serial: opts.renewCaSerial!, out: tmp, passphraseFile: pass }),
      { force: 'CA renewal requested (renew --ca)' });
  return [
    caReqConfigStep(s, ca),
    caDbConfigStep(s, ca),
    dbFile('ca-db-index', ca.index, 'empty.txt', {}),
    dbFile('ca-db-attr', ca.indexAttr, 'index.txt.attr', {}),
    dbFile('ca-db-crlnumber', ca.crlnumber, 'crlnumber', {}),
    dbFile('ca-db-newcerts', `${ca.newcerts}/.keep`, 'empty.txt', {}),
    exec('ca-key', `CA key ${ca.key}`, [], ca.key, 0o600,
      (tmp) => openssl.genpkey({ key: s.caKey, out: tmp, cipher: s.caKeyCipher, passphraseFile: pass }), { createOnly: true }),
    caCert,
  ];
}

/** The CA certificate's request config: its subject and extensions. */
export function caReqConfigStep(s: Settings, ca: CaFiles = caFiles(s)): WriteStep {
  return conf('ca-config', `CA request config ${ca.reqConfig}`, ca.reqConfig, 'ca-req.cnf', { dn: dn(s.subject, s.caCommonName) });
}

/** openssl-ca.cnf: days and digest come from the settings; every certificate depends on it. */
export function caDbConfigStep(s: Settings, ca: CaFiles = caFiles(s)): WriteStep {
  return conf('ca-db-config', `CA database config ${ca.caConfig}`, ca.caConfig, 'openssl-ca.cnf', {
    index: ca.index, newcerts: ca.newcerts, caCert: ca.cert, caKey: ca.key, crlnumber: ca.crlnumber,
    days: s.days, digest: s.signingDigest,
  });
}

/** Records certificates issued without the database (a Makefile tree) as valid, so they can be revoked later. */
export function adoptSteps(s: Settings, certs: readonly string[], ca: CaFiles = caFiles(s)): ActionStep[] {
  return certs.map((cert) => ({
    kind: 'action', id: `adopt:${cert}`, title: `record ${cert} in the CA database`, inputs: [], outputs: [ca.index],
    after: [...dbFiles(ca), ca.cert], serial: CA_DB, force: 'issued by this CA but not in its database',
    command: openssl.caValid({ config: ca.caConfig, cert, passphraseFile: passFile(s) }),
  }));
}

export function revokeStep(s: Settings, host: Pick<Host, 'role' | 'fqdn'>, reason: openssl.RevokeReason | undefined, ca: CaFiles = caFiles(s)): ActionStep {
  const cert = hostFiles(host).cert;
  return {
    kind: 'action', id: `revoke:${host.fqdn}`, title: `revoke ${cert}`, inputs: [], outputs: [ca.index],
    after: [...dbFiles(ca), ca.cert], serial: CA_DB, force: 'revocation requested',
    command: openssl.caRevoke({ config: ca.caConfig, cert, passphraseFile: passFile(s), reason }),
  };
}

export function crlStep(s: Settings, why: string, ca: CaFiles = caFiles(s)): ExecStep {
  return exec('crl', `CRL ${ca.crl}`, [], ca.crl, 0o644,
    (tmp) => openssl.caGencrl({ config: ca.caConfig, out: tmp, days: s.crlDays, passphraseFile: passFile(s) }),
    { serial: CA_DB, after: [...dbFiles(ca), ca.cert, ca.caConfig], force: why });
}

function dbFile(id: string, output: string, name: string, context: Record<string, unknown>): WriteStep {
  return { kind: 'write', id, title: `CA database ${output}`, inputs: [], outputs: [output], output, mode: 0o600, template: { engine: 'ejs', name: `ca-db/${name}.ejs` }, context, createOnly: true };
}

/**
 * Hosts whose current certificate is revoked and that this run does not issue again: nothing of theirs is
 * re-made (a changed setting must not quietly re-issue the revoked key) and the allowlist leaves them out.
 */
export function revokedHosts(s: Settings, opts: Pick<PlanOptions, 'revoked' | 'renew'>): Set<string> {
  if (!opts.revoked?.size) return new Set();
  const revoked = opts.revoked;
  return new Set(allHosts(s)
    .filter((h) => !opts.renew?.has(h.fqdn) && revoked.has(certSerial(path.join(s.projectDir, hostFiles(h).cert)) ?? ''))
    .map((h) => h.fqdn));
}

export function hostSteps(s: Settings, host: Host, ca: CaFiles = caFiles(s), opts: Pick<PlanOptions, 'renew' | 'rekey'> & { frozen?: ReadonlySet<string> } = {}): Step[] {
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

export function allowlistStep(s: Settings, opts: Pick<PlanOptions, 'rotations' | 'revoked' | 'renew'> & { frozen?: ReadonlySet<string> } = {}): WriteStep {
  const certs = s.clients.map((c) => ({ fqdn: c.fqdn, cert: hostFiles(c).cert }));
  const revoked = [...(opts.revoked ?? [])].sort();
  const retiring = retiringEntries(opts.rotations ?? [], new Set(certs.map((c) => c.fqdn)), s.fingerprintDigest, s.fingerprintKind);
  // For the replayable script, which cannot read the CA database: hosts revoked now and not issued again in this run.
  const revokedNow = opts.frozen ?? revokedHosts(s, opts);
  const header = [
    `# relay_clientcerts for permit_tls_clientcerts: "<${s.fingerprintKind === 'pubkey' ? 'public-key' : 'certificate'} fingerprint (${s.fingerprintDigest})> <fqdn>"`,
    `# Generated by postfix-tls-relay; edit settings.mk and rebuild, not this file.`,
  ];
  const lines = [
    ...header.map((h) => `printf '%s\\n' ${shq(h)}`),
    ...certs.filter((c) => !revokedNow.has(c.fqdn)).map((c) => `printf '%s %s\\n' "$(${fingerprintShell(c.cert, s.fingerprintDigest, s.fingerprintKind)})" ${shq(c.fqdn)}`),
    ...(retiring.length ? [`printf '%s\\n' ${shq(RETIRING_HEADER)}`] : []),
    ...retiring.map((r) => `printf '%s %s\\n' ${shq(r.fingerprint)} ${shq(r.fqdn)}`),
  ];
  return {
    kind: 'write',
    id: 'allowlist',
    title: `relay allowlist ${ALLOWLIST}`,
    inputs: certs.map((c) => c.cert),
    outputs: [ALLOWLIST],
    output: ALLOWLIST,
    mode: 0o644,
    template: { engine: 'ejs', name: 'relay_clientcerts.ejs' },
    // revoked and retiring are part of the recipe: a revocation or a rotation rewrites the allowlist.
    context: { clients: certs, digest: s.fingerprintDigest, kind: s.fingerprintKind, header: header.join('\n'), retiringHeader: RETIRING_HEADER, retiring, revoked },
    createOnly: false,
    shell: `{\n  ${lines.join('\n  ')}\n} > ${shq(ALLOWLIST)}`,
    derive: (dir) => {
      // Read the database now, not at plan time: this run may have revoked or reissued a certificate.
      const revokedNowDb = revokedSerials(dir, s);
      const entries = certs.flatMap((c) => {
        const pem = readFileSync(path.join(dir, c.cert));
        if (revokedNowDb.has(certSerial(pem) ?? '')) return [];
        return [{ fqdn: c.fqdn, fingerprint: fingerprint(pem, s.fingerprintDigest, s.fingerprintKind) }];
      });
      const seen = new Set(entries.map((e) => e.fingerprint));
      const keep = retiring.filter((r) => !seen.has(r.fingerprint) && (seen.add(r.fingerprint), true));
      return { entries, retiring: keep };
    },
  };
}

const RETIRING_HEADER = '# Previous keys of clients in rotation, listed until "postfix-tls-relay renew --finish <fqdn>":';

export function applyContext(s: Settings, host: Host): Record<string, unknown> {
  const r = remoteFiles(s, host);
  const dirs = [s.certsRemoteDir, path.posix.dirname(r.caCert), path.posix.dirname(r.key)];
  const files = [
    { path: r.caCert, mode: '0644' },
    { path: r.cert, mode: '0644' },
    { path: r.key, mode: '0600' },
  ];
  const base = { version: TOOL_VERSION, fqdn: host.fqdn, role: host.role, postfixDir: host.postfixDir, dirs: [...new Set(dirs)], applyScript: r.applyScript };
  if (host.role === 'server') {
    const relay = relayConfig(s);
    files.push({ path: relay.table.path, mode: '0644' });
    return { ...base, files, relay, client: null };
  }
  return { ...base, files, relay: null, client: clientConfig(s, host) };
}

export function bundleSteps(s: Settings, host: Host, ca: CaFiles = caFiles(s)): Step[] {
  const f = hostFiles(host);
  const r = remoteFiles(s, host);
  const out = bundleDir(host);
  const steps: Step[] = [
    copy(`bundle-ca:${host.fqdn}`, ca.cert, inBundle(host, r.caCert), 0o644),
    copy(`bundle-cert:${host.fqdn}`, f.cert, inBundle(host, r.cert), 0o644),
    copy(`bundle-key:${host.fqdn}`, f.key, inBundle(host, r.key), 0o600),
  ];
  if (host.role === 'server') steps.push(copy(`bundle-allowlist:${host.fqdn}`, ALLOWLIST, inBundle(host, s.server.relayClientcertsPath), 0o644));
  const apply: WriteStep = {
    kind: 'write', id: `apply:${host.fqdn}`, title: `apply script ${out}/apply.sh`, inputs: [], outputs: [`${out}/apply.sh`], output: `${out}/apply.sh`,
    mode: 0o755, template: { engine: 'ejs', name: 'apply.sh.ejs' }, context: applyContext(s, host), createOnly: false,
  };
  steps.push(apply, copy(`bundle-apply:${host.fqdn}`, apply.output, inBundle(host, r.applyScript), 0o755));
  return steps;
}

/** The whole build, in a deterministic order: CA, relay, clients, allowlist, bundles. */
export function buildPlan(s: Settings, opts: PlanOptions = projectState(s)): Step[] {
  const ca = caFiles(s);
  const frozen = revokedHosts(s, opts);
  return [
    ...caSteps(s, ca, opts),
    ...adoptSteps(s, opts.adopt ?? [], ca),
    ...allHosts(s).flatMap((h) => hostSteps(s, h, ca, { ...opts, frozen })),
    allowlistStep(s, { ...opts, frozen }),
    ...allHosts(s).flatMap((h) => bundleSteps(s, h, ca)),
  ];
}
