// Trust: what the certificates allow, and that a broken chain on disk is reported, never re-made.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTestGpg, type TestGpg } from '../support/gpg.js';
import { createProject, PASSPHRASE, settingsText, type TestProject } from '../support/project.js';
import { exampleLayout, expectCompleteTree, snapshot, verifyFor } from '../support/tree.js';

const L = exampleLayout();
const SERVER = `certs/smtpd-server/${L.servers[0]}`;
const CLIENT = `certs/smtp-client/${L.clients[0]}`;

function ext(dir: string, cert: string, names: string): string {
  return execFileSync('openssl', ['x509', '-in', cert, '-noout', '-ext', names], { cwd: dir, encoding: 'utf8' });
}

/** An EC key encrypted with the test passphrase, as the tool would make it (openssl reads the passphrase on stdin). */
function encryptedKey(file: string): void {
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', 'stdin', '-out', file], { input: `${PASSPHRASE}\n` });
}

/** Sets a file's mtime `secs` seconds away from another file's. */
function ageRelativeTo(file: string, other: string, secs: number): void {
  const t = statSync(other).mtimeMs / 1000 + secs;
  utimesSync(file, t, t);
}

describe('hardening: what the certificates allow', function () {
  this.timeout(120_000);
  let p: TestProject;

  before(() => {
    p = createProject({ settings: (f) => settingsText(f, 'smtp_client_hostnames := backup1 backup2 backup3') });
    const r = p.cli(['build']);
    expect(r.code, r.stderr).to.equal(0);
  });
  after(() => p.dispose());

  const clients = ['mailhost', 'backup1', 'backup2', 'backup3'].map((h) => `certs/smtp-client/${h}.example.test.crt.pem`);

  it('the relay certificate verifies for a TLS server only, a client certificate for a TLS client only', () => {
    expect(verifyFor(p.dir, L.caCert, `${SERVER}.crt.pem`, 'sslserver').ok).to.equal(true);
    const asClient = verifyFor(p.dir, L.caCert, `${SERVER}.crt.pem`, 'sslclient');
    expect(asClient.ok).to.equal(false);
    expect(asClient.output).to.match(/unsuitable certificate purpose/);
    for (const c of clients) {
      expect(verifyFor(p.dir, L.caCert, c, 'sslclient').ok, c).to.equal(true);
      const asServer = verifyFor(p.dir, L.caCert, c, 'sslserver');
      expect(asServer.ok, `${c} accepted as a server certificate`).to.equal(false);
      expect(asServer.output).to.match(/unsuitable certificate purpose/);
    }
  });

  it('leaf certificates are end entities for one name: CA:FALSE, one extended key usage, the fqdn as SAN', () => {
    const server = ext(p.dir, `${SERVER}.crt.pem`, 'basicConstraints,extendedKeyUsage,subjectAltName');
    expect(server).to.match(/critical\s+CA:FALSE/);
    expect(server).to.match(/Extended Key Usage:\s+TLS Web Server Authentication\n/);
    expect(server).to.include(`DNS:${L.servers[0]}`);
    const client = ext(p.dir, clients[0]!, 'basicConstraints,extendedKeyUsage,subjectAltName');
    expect(client).to.match(/critical\s+CA:FALSE/);
    expect(client).to.match(/Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(client).to.include(`DNS:${L.clients[0]}`);
  });

  it('the CA is CA:TRUE with pathlen:0 and may only sign certificates and CRLs', () => {
    const ca = ext(p.dir, L.caCert, 'basicConstraints,keyUsage');
    expect(ca).to.match(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(ca).to.match(/Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
  });

  it('pathlen:0 is enforced: an intermediate CA signed with our CA key does not make trusted certificates', () => {
    const t = (f: string) => path.join(p.dir, 'tmp-pathlen', f);
    execFileSync('mkdir', ['-p', t('')]);
    try {
      writeFileSync(t('ext.cnf'), '[v3_int]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign\n[v3_leaf]\nbasicConstraints = critical, CA:FALSE\nextendedKeyUsage = clientAuth\n');
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', t('int.key'), '-subj', '/CN=rogue intermediate', '-out', t('int.csr')], { stdio: 'pipe' });
      execFileSync('openssl', ['x509', '-req', '-in', t('int.csr'), '-CA', L.caCert, '-CAkey', L.caKey, '-passin', 'stdin', '-CAcreateserial', '-CAserial', t('serial'), '-days', '1', '-extfile', t('ext.cnf'), '-extensions', 'v3_int', '-out', t('int.crt')], { cwd: p.dir, input: `${PASSPHRASE}\n`, stdio: 'pipe' });
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', t('leaf.key'), '-subj', '/CN=intruder.example.test', '-out', t('leaf.csr')], { stdio: 'pipe' });
      execFileSync('openssl', ['x509', '-req', '-in', t('leaf.csr'), '-CA', t('int.crt'), '-CAkey', t('int.key'), '-CAcreateserial', '-CAserial', t('serial2'), '-days', '1', '-extfile', t('ext.cnf'), '-extensions', 'v3_leaf', '-out', t('leaf.crt')], { stdio: 'pipe' });
      const r = spawnSync('openssl', ['verify', '-CAfile', L.caCert, '-untrusted', t('int.crt'), '-purpose', 'sslclient', t('leaf.crt')], { cwd: p.dir, encoding: 'utf8' });
      expect(r.status).to.not.equal(0);
      expect(`${r.stdout}${r.stderr}`).to.match(/path length constraint exceeded/);
    } finally {
      rmSync(t(''), { recursive: true, force: true });
    }
  });

  it('serials are unique, random (at least 64 bits, not 01, 02, …) and not consecutive', () => {
    const serials = [L.caCert, `${SERVER}.crt.pem`, ...clients].map((f) => new X509Certificate(readFileSync(path.join(p.dir, f))).serialNumber);
    serials.push(...readdirSync(p.file('certs/ca/db/newcerts')).filter((n) => n.endsWith('.pem')).map((n) => n.replace(/\.pem$/, '')));
    const unique = new Set(serials.map((s) => s.toUpperCase()));
    expect(unique.size).to.equal(6); // the CA and five leaves; newcerts holds the same five
    const values = [...unique].map((s) => BigInt(`0x${s}`));
    for (const v of values) expect(v.toString(2).length, `serial ${v.toString(16)}`).to.be.at.least(64);
    const sorted = [...values].sort((a, b) => (a < b ? -1 : 1));
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]! > 1000n, 'consecutive serials').to.equal(true);
  });
});

describe('hardening: never lose the CA, never re-make a broken chain', function () {
  this.timeout(300_000);
  let gpg: TestGpg;
  let p: TestProject;

  before(() => {
    gpg = createTestGpg();
  });
  after(() => gpg.dispose());
  beforeEach(() => {
    p = createProject({ gpg });
    const r = p.cli(['build']);
    expect(r.code, r.stderr).to.equal(0);
  });
  afterEach(() => p.dispose());

  /** The build fails with exit 1 and exactly one error line matching `re`, and changes nothing. */
  function expectRefused(re: RegExp, args: string[] = []): string {
    const before = snapshot(p.dir);
    const r = p.cli(['build', ...args]);
    expect(r.code, r.stderr).to.equal(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).to.match(re);
    expect(snapshot(p.dir), 'the refused build changed the project').to.deep.equal(before);
    return lines[0]!;
  }

  it('a missing CA key with its certificate present is not re-made (a new key would be a new CA)', () => {
    rmSync(p.file(L.caKey));
    rmSync(p.file(`${CLIENT}.crt.pem`)); // something to sign
    const msg = expectRefused(/certs\/ca\/example\.test-ca\.key\.pem is missing but certs\/ca\/example\.test-ca\.crt\.pem exists; .*restore the key from your backup/);
    expect(msg).to.include('postfix-tls-relay clean');
    expect(existsSync(p.file(L.caKey))).to.equal(false);
  });

  for (const newer of [false, true]) {
    it(`a CA key replaced by another one (${newer ? 'newer than the certificate, which would re-make the CA certificate' : 'older'}) is detected before anything is signed`, () => {
      const caCert = readFileSync(p.file(L.caCert));
      rmSync(p.file(L.caKey));
      encryptedKey(p.file(L.caKey));
      ageRelativeTo(p.file(L.caKey), p.file(L.caCert), newer ? 60 : -60);
      rmSync(p.file(`${CLIENT}.crt.pem`)); // something to sign
      expectRefused(/^postfix-tls-relay: certs\/ca\/example\.test-ca\.key\.pem does not match certs\/ca\/example\.test-ca\.crt\.pem; restore the matching key or certificate from your backup/);
      expect(readFileSync(p.file(L.caCert)).equals(caCert)).to.equal(true);
    });
  }

  it('a CA certificate replaced by another CA\'s is detected: our certificates were not signed by it', () => {
    const other = createProject({ gpg });
    try {
      expect(other.cli(['build']).code).to.equal(0);
      copyFileSync(other.file(L.caCert), p.file(L.caCert));
      expectRefused(/certs\/smtpd-server\/relayhost\.example\.test\.crt\.pem was not signed by this project's CA \(certs\/ca\/example\.test-ca\.crt\.pem; issuer of the file: .*\); delete it to have it re-issued by this CA, or restore the CA it belongs to/);
    } finally {
      other.dispose();
    }
  });

  it('a leaf certificate from another CA is detected and not kept, re-issued or listed', () => {
    const other = createProject({ gpg });
    try {
      expect(other.cli(['build']).code).to.equal(0);
      copyFileSync(other.file(`${CLIENT}.crt.pem`), p.file(`${CLIENT}.crt.pem`));
      expectRefused(/^postfix-tls-relay: certs\/smtp-client\/mailhost\.example\.test\.crt\.pem was not signed by this project's CA/);
    } finally {
      other.dispose();
    }
  });

  it('a leaf key that does not belong to its (newer) certificate is detected', () => {
    rmSync(p.file(`${CLIENT}.key.pem`));
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p.file(`${CLIENT}.key.pem`)]);
    ageRelativeTo(p.file(`${CLIENT}.key.pem`), p.file(`${CLIENT}.crt.pem`), -60);
    expectRefused(/^postfix-tls-relay: certs\/smtp-client\/mailhost\.example\.test\.key\.pem does not match certs\/smtp-client\/mailhost\.example\.test\.crt\.pem; restore the matching key from your backup, or delete both/);
  });

  it('a damaged leaf key is reported, not re-certified', () => {
    writeFileSync(p.file(`${CLIENT}.key.pem`), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    ageRelativeTo(p.file(`${CLIENT}.key.pem`), p.file(`${CLIENT}.crt.pem`), -60);
    expectRefused(/^postfix-tls-relay: certs\/smtp-client\/mailhost\.example\.test\.key\.pem: not a readable unencrypted private key/);
  });

  it('certificates left without their CA (key and certificate gone) do not get a new CA', () => {
    rmSync(p.file(L.caKey));
    rmSync(p.file(L.caCert));
    expectRefused(/certs\/smtpd-server\/relayhost\.example\.test\.crt\.pem exists but the CA that signed it \(certs\/ca\/example\.test-ca\.key\.pem, certs\/ca\/example\.test-ca\.crt\.pem\) is missing; restore the CA from your backup/);
  });

  it('a passphrase file for another CA is reported without showing either passphrase', () => {
    gpg.encrypt('a different passphrase 0815\n', p.passphraseFile);
    rmSync(p.file(`${CLIENT}.crt.pem`));
    const msg = expectRefused(/certs\/ca\/example\.test-ca\.key\.pem: the passphrase from certs_passphrase_file \(.*ca-passphrase\.gpg\) does not open this key/);
    expect(msg).to.not.include('0815');
    expect(msg).to.not.include(PASSPHRASE);
  });

  it('a deleted leaf key is replaced: new key, new certificate from the same CA, new fingerprint listed', () => {
    const oldCert = readFileSync(p.file(`${CLIENT}.crt.pem`));
    const caKey = readFileSync(p.file(L.caKey));
    rmSync(p.file(`${CLIENT}.key.pem`));
    const r = p.cli(['build']);
    expect(r.code, r.stderr).to.equal(0);
    expect(readFileSync(p.file(`${CLIENT}.crt.pem`)).equals(oldCert)).to.equal(false);
    expect(readFileSync(p.file(L.caKey)).equals(caKey)).to.equal(true);
    expectCompleteTree(p.dir, L); // includes: the allowlist holds the new key's fingerprint
  });

  it('clean never deletes the CA key: it is archived byte-for-byte, mode 0600, in a 0700 directory', () => {
    const caKey = readFileSync(p.file(L.caKey));
    const r = p.cli(['clean']);
    expect(r.code, r.stderr).to.equal(0);
    const archived = readdirSync(p.file('archive')).map((d) => path.join('archive', d, L.caKey));
    expect(archived).to.have.length(1);
    expect(readFileSync(p.file(archived[0]!)).equals(caKey)).to.equal(true);
    expect(statSync(p.file(archived[0]!)).mode & 0o777).to.equal(0o600);
    expect(statSync(p.file('archive')).mode & 0o777).to.equal(0o700);
  });
});
