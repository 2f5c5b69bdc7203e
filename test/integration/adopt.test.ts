// Adopting a tree made by a Makefile in the seed's format (test/fixtures/seed, with GNU make and the
// real openssl and gpg): build keeps the CA and every key, records the Makefile's certificates in a new
// CA database, re-issues v3 certificates with the same keys and writes a sha256 allowlist; renew --ca
// then fixes the Makefile's bare CA certificate.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findCommand, requirePrerequisites } from '../support/lab.js';
import { createTestGpg, type TestGpg } from '../support/gpg.js';
import { CLI, PASSPHRASE, SEED_DIR } from '../support/project.js';
import { allowlistEntries, pubkeyFingerprint, serialOf, sh, verify } from '../support/certs.js';

const D = 'example.org';
const CLIENTS = [`mailhost.${D}`, `backup.${D}`, `third.${D}`];
const RELAY = `relayhost.${D}`;
const CA_KEY = `certs/ca/${D}-ca.key.pem`;
const CA = `certs/ca/${D}-ca.crt.pem`;
const clientCert = (h: string) => `certs/smtp-client/${h}.crt.pem`;
const clientKey = (h: string) => `certs/smtp-client/${h}.key.pem`;
const RELAY_KEY = `certs/smtpd-server/${RELAY}.key.pem`;
const RELAY_CERT = `certs/smtpd-server/${RELAY}.crt.pem`;
const KEYS = [CA_KEY, RELAY_KEY, ...CLIENTS.map(clientKey)];

describe('adopting a tree made by the seed Makefile', function () {
  let gpg: TestGpg;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const f = (rel: string) => path.join(dir, rel);
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args, '-C', dir], { env, cwd: dir, encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const make = (cwd: string, args: string[]) => execFileSync('make', ['--no-print-directory', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keyBytes = new Map<string, Buffer>();
  const makefileSerials: string[] = [];
  let caBytes: Buffer;
  let buildStderr = '';

  before(function () {
    const missing = ['make', 'gpg', 'openssl'].filter((c) => !findCommand(c));
    requirePrerequisites(this, { ok: missing.length === 0, missing });
    gpg = createTestGpg();
    dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-adopt-'));
    env = { ...process.env, GNUPGHOME: gpg.home, NO_COLOR: '1' };
    gpg.encrypt(`${PASSPHRASE}\n`, f('passphrase.gpg'));
    copyFileSync(path.join(SEED_DIR, 'Makefile'), f('Makefile'));
    const example = readFileSync(path.join(SEED_DIR, 'settings.mk.example'), 'utf8');
    writeFileSync(f('settings.mk'), example.replace(/^certs_passphrase_file\s*:=.*$/m, `certs_passphrase_file\t\t:= ${f('passphrase.gpg')}`));
    // What a Makefile user has: the CA, the relay's key and certificate, and one client per run. The
    // Makefile's CA key depends on directories, so a later run would make a new CA: -o keeps it (see the
    // last test for a tree where that happened).
    make(dir, ['smtp-client-crt', 'smtpd-server-key', RELAY_CERT, 'etc/postfix/relay_clientcerts']);
    for (const h of ['backup', 'third']) make(dir, ['-o', CA_KEY, '-o', CA, `smtp_client_hostname=${h}`, 'smtp-client-crt']);
    for (const k of KEYS) keyBytes.set(k, readFileSync(f(k)));
    caBytes = readFileSync(f(CA));
    copyFileSync(f(CA), f('makefile-ca.pem'));
    for (const c of [RELAY_CERT, ...CLIENTS.map(clientCert)]) makefileSerials.push(serialOf(f(c)));
    for (const h of CLIENTS) copyFileSync(f(clientCert(h)), f('makefile-' + h));
  });

  after(function () {
    gpg?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts from what the Makefile really made: v1 leaves, no CA database, an MD5 certificate allowlist', function () {
    for (const h of CLIENTS) {
      const text = sh(`openssl x509 -in ${f(clientCert(h))} -noout -text`);
      // The Makefile's `openssl x509 -req` makes v1 leaves; OpenSSL 3.2 and later (Debian 13) add key
      // identifiers, so v3 with those only. Either way: no SAN, no EKU, no basicConstraints.
      const extensions = [...text.matchAll(/^ {12}(X509v3 [^:]+):/gm)].map((m) => m[1]);
      if (text.includes('Version: 1 (0x0)')) expect(extensions).to.deep.equal([]);
      else expect([text.includes('Version: 3 (0x2)'), extensions]).to.deep.equal([true, ['X509v3 Subject Key Identifier', 'X509v3 Authority Key Identifier']]);
      expect(verify(f(CA), f(clientCert(h))).ok, h).to.equal(true);
    }
    expect(readdirSync(f('certs/ca')).sort()).to.deep.equal([`${D}-ca.crt.pem`, `${D}-ca.crt.srl`, `${D}-ca.key.pem`]);
    expect(readFileSync(f('etc/postfix/relay_clientcerts'), 'utf8')).to.match(/^([0-9A-F]{2}:){15}[0-9A-F]{2} mailhost\.example\.org\s*$/);
    expect(statSync(f(CA_KEY)).mode & 0o777).to.equal(0o700);
  });

  it('build keeps the CA and every key, records the old certificates and re-issues v3 ones with the same keys', function () {
    // The upgrade a Makefile user makes: more clients, and sha256 instead of md5 for the allowlist.
    const settings = readFileSync(f('settings.mk'), 'utf8').replace(/^signature_hash\s*:=.*$/m, 'signature_hash\t\t\t:= sha256');
    writeFileSync(f('settings.mk'), `${settings}smtp_client_hostnames\t\t:= backup third\n`);
    const r = cli(['build']);
    buildStderr = r.stderr;
    expect(r.code, r.stderr).to.equal(0);
    for (const k of KEYS) expect(readFileSync(f(k)).equals(keyBytes.get(k)!), `${k} kept`).to.equal(true);
    expect(readFileSync(f(CA)).equals(caBytes), 'CA certificate kept').to.equal(true);
    expect(statSync(f(CA_KEY)).mode & 0o777).to.equal(0o600);
    expect(buildStderr).to.include('adopting the existing tree');
    expect(buildStderr).to.include('private key mode was 0700, set to 0600');
    expect(buildStderr).to.match(/no keyUsage.*renew --ca/);
    expect(buildStderr).to.not.include('not signed by this CA');

    const index = readFileSync(f('certs/ca/db/index.txt'), 'utf8');
    for (const s of makefileSerials) expect(index).to.match(new RegExp(`^V\\t\\S+\\t\\t${s}\\t`, 'm'));
    for (const [i, c] of [RELAY_CERT, ...CLIENTS.map(clientCert)].entries()) {
      const serial = serialOf(f(c));
      expect(serial).to.not.equal(makefileSerials[i]);
      expect(index).to.match(new RegExp(`^V\\t\\S+\\t\\t${serial}\\t`, 'm'));
      const text = sh(`openssl x509 -in ${f(c)} -noout -text`);
      expect(text).to.include('Version: 3 (0x2)');
      const fqdn = c === RELAY_CERT ? RELAY : CLIENTS[i - 1]!;
      expect(text).to.include(`DNS:${fqdn}`);
      const k = c === RELAY_CERT ? RELAY_KEY : clientKey(fqdn);
      expect(pubkeyFingerprint(f(c))).to.equal(pubkeyFingerprint(f(k), 'key'));
      expect(verify(f(CA), f(c), ['-purpose', c === RELAY_CERT ? 'sslserver' : 'sslclient']).ok, c).to.equal(true);
    }
    // The kept CA certificate has no keyUsage: fine for Postfix, not for a strict verifier (hence the warning).
    const strict = verify(f(CA), f(clientCert(CLIENTS[0]!)), ['-x509_strict']);
    expect(strict.ok).to.equal(false);
    expect(strict.output).to.include('CA cert does not include key usage extension');

    expect(allowlistEntries(f('etc/postfix/relay_clientcerts'))).to.deep.equal(CLIENTS.map((h) => [pubkeyFingerprint(f(clientKey(h)), 'key'), h]));
    expect(allowlistEntries(f(`out/${RELAY}/root/etc/postfix/relay_clientcerts`))).to.have.length(3);
  });

  it('a second build does nothing and never regenerates a key', function () {
    const r = cli(['build', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).commands).to.deep.equal([]);
    expect(r.stderr).to.not.include('adopting');
    for (const k of KEYS) expect(readFileSync(f(k)).equals(keyBytes.get(k)!), k).to.equal(true);
  });

  it('renew --ca re-signs the Makefile\'s CA certificate with its key: strict verification passes, nothing re-issued', function () {
    const leaves = [RELAY_CERT, ...CLIENTS.map(clientCert)].map((c) => [c, readFileSync(f(c))] as const);
    const r = cli(['renew', '--ca']);
    expect(r.code, r.stderr).to.equal(0);
    expect(readFileSync(f(CA_KEY)).equals(keyBytes.get(CA_KEY)!)).to.equal(true);
    expect(sh(`openssl x509 -in ${f(CA)} -noout -subject`)).to.equal(sh(`openssl x509 -in ${f('makefile-ca.pem')} -noout -subject`));
    expect(serialOf(f(CA))).to.not.equal(serialOf(f('makefile-ca.pem')));
    expect(sh(`openssl x509 -in ${f(CA)} -noout -text`)).to.include('CA:TRUE, pathlen:0').and.to.include('Certificate Sign, CRL Sign');
    for (const [c, bytes] of leaves) {
      expect(readFileSync(f(c)).equals(bytes), c).to.equal(true);
      expect(verify(f(CA), f(c), ['-x509_strict']).ok, c).to.equal(true);
    }
    const st = JSON.parse(cli(['status', '--json']).stdout);
    expect(st.ca.notes).to.deep.equal([]);
  });

  it('the adopted database revokes like a new one', function () {
    const r = cli(['revoke', CLIENTS[2]!]);
    expect(r.code, r.stderr).to.equal(0);
    expect(verify(f(CA), f(clientCert(CLIENTS[2]!)), ['-CRLfile', f(`certs/ca/${D}-ca.crl.pem`), '-crl_check']).output).to.include('certificate revoked');
    expect(allowlistEntries(f('etc/postfix/relay_clientcerts')).map(([, h]) => h)).to.deep.equal(CLIENTS.slice(0, 2));
  });

  it('a tree where a later Makefile run replaced the CA: certificates of the lost CA are re-issued, not recorded', function () {
    const again = mkdtempSync(path.join(os.tmpdir(), 'ptr-adopt2-'));
    try {
      const g = (rel: string) => path.join(again, rel);
      for (const rel of ['Makefile', 'passphrase.gpg', CA_KEY, CA, `certs/ca/${D}-ca.crt.srl`, RELAY_KEY, RELAY_CERT, ...CLIENTS.flatMap((h) => [clientKey(h), `certs/smtp-client/${h}.csr.pem`])]) {
        execFileSync('install', ['-D', '-m', '0644', f(rel), g(rel)]);
      }
      for (const h of CLIENTS) copyFileSync(f('makefile-' + h), g(clientCert(h)));
      writeFileSync(g('settings.mk'), readFileSync(f('settings.mk'), 'utf8').replace(f('passphrase.gpg'), g('passphrase.gpg')).replace('backup third', 'backup third fourth'));
      // A plain run for one more client: the Makefile makes a new CA key and certificate first.
      const oldCa = readFileSync(g(CA));
      make(again, ['smtp_client_hostname=fourth', 'smtp-client-crt']);
      expect(readFileSync(g(CA)).equals(oldCa), 'the Makefile replaced its CA').to.equal(false);
      expect(verify(g(CA), g(clientCert(CLIENTS[0]!))).ok).to.equal(false);
      const fourth = serialOf(g(clientCert(`fourth.${D}`)));
      const r = spawnSync(process.execPath, [CLI, 'build', '-C', again], { env, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      for (const c of [RELAY_CERT, ...CLIENTS.map(clientCert)]) expect(r.stderr).to.include(`${c}: not signed by this CA's key`);
      const index = readFileSync(g('certs/ca/db/index.txt'), 'utf8');
      expect(index).to.match(new RegExp(`^V\\t\\S+\\t\\t${fourth}\\t`, 'm'));
      expect(index.trim().split('\n')).to.have.length(1 + 5);
      for (const c of [RELAY_CERT, ...[...CLIENTS, `fourth.${D}`].map(clientCert)]) expect(verify(g(CA), g(c)).ok, c).to.equal(true);
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });
});
