// The CA's steps: its configs, database files, key and certificate; and the steps that change the
// database in place (adopting certificates, revoking one) or derive from it (the CRL).
import * as openssl from '../programs/openssl.js';
import { caFiles, hostFiles, type CaFiles } from '../files/layout.js';
import type { Host, Settings } from '../settings/index.js';
import { CA_DB, conf, dbFiles, dn, exec, passFile } from './make.js';
import type { ActionStep, ExecStep, Step, WriteStep } from './step.js';

export function caSteps(s: Settings, ca: CaFiles = caFiles(s), opts: { renewCaSerial?: string } = {}): Step[] {
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
    dbFile('ca-db-index', ca.index, 'empty.txt'),
    dbFile('ca-db-attr', ca.indexAttr, 'index.txt.attr'),
    dbFile('ca-db-crlnumber', ca.crlnumber, 'crlnumber'),
    dbFile('ca-db-newcerts', `${ca.newcerts}/.keep`, 'empty.txt'),
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

function dbFile(id: string, output: string, name: string): WriteStep {
  return { kind: 'write', id, title: `CA database ${output}`, inputs: [], outputs: [output], output, mode: 0o600, template: { engine: 'ejs', name: `ca-db/${name}.ejs` }, context: {}, createOnly: true };
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
