// settings → the ordered list of steps that builds the CA, every host's key and certificate,
// the relay's allowlist and each host's bundle.
import { tmpName } from './atomic.js';
import * as openssl from './commands/openssl.js';
import type { Command } from './commands/types.js';
import { fingerprint, fingerprintShell } from './fingerprint.js';
import { ALLOWLIST, allHosts, bundleDir, caFiles, hostFiles, inBundle, remoteFiles, type CaFiles } from './layout.js';
import { clientConfig, relayConfig } from './postfix.js';
import { confValue } from './render.js';
import type { Host, Settings, Subject } from './settings/index.js';
import { shq } from './shell.js';
import type { CopyStep, ExecStep, Step, WriteStep } from './steps.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const TOOL_VERSION = '0.1.0';
const CA_DB = 'ca-database';

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

export function caSteps(s: Settings, ca: CaFiles = caFiles(s)): Step[] {
  const pass = s.passphraseFile ?? '${certs_passphrase_file}';
  return [
    conf('ca-config', `CA request config ${ca.reqConfig}`, ca.reqConfig, 'ca-req.cnf', { dn: dn(s.subject, s.caCommonName) }),
    conf('ca-db-config', `CA database config ${ca.caConfig}`, ca.caConfig, 'openssl-ca.cnf', {
      index: ca.index, newcerts: ca.newcerts, caCert: ca.cert, caKey: ca.key, crlnumber: ca.crlnumber,
      days: s.days, crlDays: s.crlDays, digest: s.signingDigest,
    }),
    dbFile('ca-db-index', ca.index, 'empty.txt', {}),
    dbFile('ca-db-attr', ca.indexAttr, 'index.txt.attr', {}),
    dbFile('ca-db-crlnumber', ca.crlnumber, 'crlnumber', {}),
    dbFile('ca-db-newcerts', `${ca.newcerts}/.keep`, 'empty.txt', {}),
    exec('ca-key', `CA key ${ca.key}`, [], ca.key, 0o600,
      (tmp) => openssl.genpkey({ key: s.caKey, out: tmp, cipher: s.caKeyCipher, passphraseFile: pass }), { createOnly: true }),
    exec('ca-cert', `CA certificate ${ca.cert}`, [ca.key, ca.reqConfig], ca.cert, 0o644,
      (tmp) => openssl.req({ config: ca.reqConfig, key: ca.key, out: tmp, digest: s.signingDigest, x509: { days: s.caDays }, passphraseFile: pass })),
  ];
}

function dbFile(id: string, output: string, name: string, context: Record<string, unknown>): WriteStep {
  return { kind: 'write', id, title: `CA database ${output}`, inputs: [], outputs: [output], output, mode: 0o600, template: { engine: 'ejs', name: `ca-db/${name}.ejs` }, context, createOnly: true };
}

export function hostSteps(s: Settings, host: Host, ca: CaFiles = caFiles(s)): Step[] {
  const f = hostFiles(host);
  const pass = s.passphraseFile ?? '${certs_passphrase_file}';
  const isServer = host.role === 'server';
  return [
    conf(`config:${host.fqdn}`, `request config ${f.config}`, f.config, 'leaf.cnf', {
      dn: dn(s.subject, host.fqdn),
      fqdn: host.fqdn,
      roleName: isServer ? 'smtpd server, the relay' : 'smtp client',
      keyUsage: s.leafKey.algorithm === 'rsa' ? 'digitalSignature, keyEncipherment' : 'digitalSignature',
      extendedKeyUsage: isServer ? 'serverAuth' : 'clientAuth',
    }),
    exec(`key:${host.fqdn}`, `key ${f.key}`, [], f.key, 0o600, (tmp) => openssl.genpkey({ key: s.leafKey, out: tmp }), { createOnly: true }),
    exec(`csr:${host.fqdn}`, `request ${f.csr}`, [f.key, f.config], f.csr, 0o644,
      (tmp) => openssl.req({ config: f.config, key: f.key, out: tmp, digest: s.signingDigest })),
    exec(`cert:${host.fqdn}`, `certificate ${f.cert}`, [f.csr, f.config, ca.cert, ca.caConfig], f.cert, 0o644,
      (tmp) => openssl.caSign({ config: ca.caConfig, extfile: f.config, extensions: 'leaf_ext', csr: f.csr, out: tmp, passphraseFile: pass }),
      { serial: CA_DB, after: [ca.index, ca.indexAttr, ca.crlnumber, `${ca.newcerts}/.keep`] }),
  ];
}

export function allowlistStep(s: Settings): WriteStep {
  const certs = s.clients.map((c) => ({ fqdn: c.fqdn, cert: hostFiles(c).cert }));
  const header = [
    `# relay_clientcerts for permit_tls_clientcerts: "<${s.fingerprintKind === 'pubkey' ? 'public-key' : 'certificate'} fingerprint (${s.fingerprintDigest})> <fqdn>"`,
    `# Generated by postfix-tls-relay; edit settings.mk and rebuild, not this file.`,
  ];
  const lines = [
    ...header.map((h) => `printf '%s\\n' ${shq(h)}`),
    ...certs.map((c) => `printf '%s %s\\n' "$(${fingerprintShell(c.cert, s.fingerprintDigest, s.fingerprintKind)})" ${shq(c.fqdn)}`),
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
    context: { clients: certs, digest: s.fingerprintDigest, kind: s.fingerprintKind, header: header.join('\n') },
    createOnly: false,
    shell: `{\n  ${lines.join('\n  ')}\n} > ${shq(ALLOWLIST)}`,
    derive: (dir) => ({
      entries: certs.map((c) => ({
        fqdn: c.fqdn,
        fingerprint: fingerprint(readFileSync(path.join(dir, c.cert)), s.fingerprintDigest, s.fingerprintKind),
      })),
    }),
  };
}

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
export function buildPlan(s: Settings): Step[] {
  const ca = caFiles(s);
  return [
    ...caSteps(s, ca),
    ...allHosts(s).flatMap((h) => hostSteps(s, h, ca)),
    allowlistStep(s),
    ...allHosts(s).flatMap((h) => bundleSteps(s, h, ca)),
  ];
}
