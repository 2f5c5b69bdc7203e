// Settings: the seed's file parses unmodified and keeps its meaning; bad values are refused with
// one line naming the file, line and setting.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { loadSettings, type Settings } from '../../lib/settings/index.js';
import { SETTINGS } from '../../lib/settings/catalog.js';
import { SEED_DIR } from '../support/project.js';

const BASE = ['domain := example.test', 'smtp_client_hostname := mailhost', 'smtpd_server_hostname := relayhost'];

describe('settings', function () {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-settings-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (lines: string[], overrides: string[] = []): Settings => {
    writeFileSync(path.join(dir, 'settings.mk'), `${lines.join('\n')}\n`);
    return loadSettings({ projectDir: dir, overrides, env: { HOME: '/home/admin' } });
  };
  const fails = (lines: string[], re: RegExp, overrides: string[] = []) => {
    let err: unknown;
    try {
      load(lines, overrides);
    } catch (e) {
      err = e;
    }
    expect(err, 'expected a UsageError').to.be.instanceOf(UsageError);
    const msg = (err as Error).message;
    expect(msg).to.match(re);
    expect(msg.split('\n'), 'one line').to.have.length(1);
  };

  it('reads the seed settings.mk.example unmodified, with the seed meaning of every variable', function () {
    const s = loadSettings({ projectDir: dir, settingsFile: path.join(SEED_DIR, 'settings.mk.example'), env: { HOME: '/home/admin' } });
    expect(s.domain).to.equal('example.org');
    expect(s.days).to.equal(700);
    expect(s.caKey).to.deep.equal({ algorithm: 'rsa', bits: 4096 });
    expect(s.leafKey).to.deep.equal({ algorithm: 'rsa', bits: 2048 }); // the Makefile's empty ${bits}: openssl's default
    expect(s.caKeyCipher).to.equal('des3');
    expect(s.signingDigest).to.equal('sha256');
    expect(s.fingerprintDigest).to.equal('md5');
    expect(s.caCommonName).to.equal('example.org');
    expect(s.subject).to.deep.equal({ C: 'NL', ST: 'Noord-Brabant', L: 'Oss', O: 'Example Inc.', OU: 'IT Department' });
    expect(s.server.fqdn).to.equal('relayhost.example.org');
    expect(s.server.port).to.equal(2500);
    expect(s.server.relayClientcertsPath).to.equal('/etc/postfix/relay_clientcerts');
    expect(s.server.ssh).to.deep.equal({ user: 'root', host: 'relayhost.example.org', port: 22 });
    expect(s.server.tlsLoglevel).to.equal(1);
    expect(s.clients.map((c) => c.fqdn)).to.deep.equal(['mailhost.example.org']);
    expect(s.clients[0]!.tlsLoglevel).to.equal(1);
    expect(s.passphraseFile).to.equal('/home/admin/.relayhost-mailhost-passphrase.gpg');
    expect(s.tableType).to.equal('texthash');
    expect(s.certsRemoteDir).to.equal('/etc/postfix-tls-based-relaying');
    // One warning for all the Makefile-only variables (certs_virt_root uses the Makefile's app_name).
    expect(s.warnings.filter((w) => w.includes('certs_virt_root'))).to.have.length(1);
    expect(s.warnings.some((w) => /des3/.test(w))).to.equal(true);
    expect(s.warnings.some((w) => /md5/.test(w))).to.equal(true);
  });

  it('documents a default for every new setting that has one, and the seed ones', function () {
    for (const name of ['key_algorithm', 'key_bits', 'ca_days', 'smtp_client_postfix_dir', 'smtpd_server_postfix_dir', 'certs_remote_dir', 'relay_clientcerts_table_type', 'smtp_client_ssh_port', 'smtpd_server_ssh_port']) {
      const s = SETTINGS.find((x) => x.name === name);
      expect(s, name).to.not.equal(undefined);
      expect(s!.default, name).to.be.a('string');
    }
    for (const name of ['smtp_client_hostnames', 'smtp_client_ssh_host', 'smtpd_server_ssh_host']) {
      expect(SETTINGS.some((x) => x.name === name), name).to.equal(true);
    }
  });

  it('applies new settings and their defaults', function () {
    const s = load([
      ...BASE,
      'smtp_client_hostnames := backup other.example.net',
      'key_algorithm = ec',
      'smtpd_server_postfix_dir := /etc/postfix-relay',
      'smtpd_server_ssh_host := 192.0.2.10',
      'smtpd_server_ssh_port := 2222',
      'relay_clientcerts_table_type := hash',
    ]);
    expect(s.clients.map((c) => c.fqdn)).to.deep.equal(['mailhost.example.test', 'backup.example.test', 'other.example.net']);
    expect(s.leafKey).to.deep.equal({ algorithm: 'ec', curve: 'P-256' });
    expect(s.caKey).to.deep.equal({ algorithm: 'ec', curve: 'P-256' });
    expect(s.server.postfixDir).to.equal('/etc/postfix-relay');
    expect(s.server.relayClientcertsPath).to.equal('/etc/postfix-relay/relay_clientcerts');
    expect(s.server.ssh).to.deep.equal({ user: 'root', host: '192.0.2.10', port: 2222 });
    expect(s.clients[1]!.ssh.host).to.equal('backup.example.test');
    expect(s.tableType).to.equal('hash');
    expect(s.caDays).to.equal(3650);
  });

  it('--set overrides the file, also in values derived from it', function () {
    const s = load(BASE, ['domain=example.net', 'smtpd_server_port=2525']);
    expect(s.server.fqdn).to.equal('relayhost.example.net');
    expect(s.server.port).to.equal(2525);
  });

  it('an unknown --set key gets a did-you-mean hint', function () {
    fails(BASE, /--set smtpd_server_prot: unknown setting; did you mean smtpd_server_port\?/, ['smtpd_server_prot=25']);
  });

  it('a typo in the file is a warning with a hint, not an error', function () {
    const s = load([...BASE, 'smtp_client_tls_logleve := 2']);
    expect(s.warnings.join('\n')).to.match(/settings\.mk:4: smtp_client_tls_logleve is not a setting.*did you mean smtp_client_tls_loglevel/);
  });

  const bad: [string, string[], RegExp][] = [
    ['a port that is text', ['smtpd_server_port := 25x'], /settings\.mk:4: smtpd_server_port = "25x" is not a whole number; use a port number from 1 to 65535/],
    ['port 0', ['smtpd_server_port := 0'], /settings\.mk:4: smtpd_server_port = 0 is out of range/],
    ['port 65536', ['smtpd_server_port := 65536'], /smtpd_server_port = 65536 is out of range/],
    ['zero days', ['days := 0'], /settings\.mk:4: days = 0 is out of range/],
    ['negative days', ['days := -5'], /days = "-5" is not a whole number/],
    ['a hostname with a shell metacharacter', ['smtp_client_hostname := mail;rm'], /settings\.mk:2: smtp_client_hostname = "mail;rm" is not a host name/],
    ['a hostname with $()', ['smtpd_server_hostname := $$(id)'], /smtpd_server_hostname = "\$\(id\)" is not a host name/],
    ['an fqdn with an empty label', ['smtpd_server_fqdn := relay..example.test'], /smtpd_server_fqdn = "relay\.\.example\.test" has an empty label/],
    ['an fqdn with a trailing dot', ['smtpd_server_fqdn := relay.example.test.'], /ends with a dot/],
    ['a label over 63 characters', [`smtpd_server_fqdn := ${'a'.repeat(64)}.example.test`], /label of 64 characters/],
    ['RSA below 2048 bits', ['key_bits := 1024'], /key_bits = 1024 is too small or too large/],
    ['an unknown digest', ['csr_digest := sha999'], /csr_digest = "sha999" is not a digest openssl can sign with/],
    ['md5 as a signature digest', ['csr_digest := md5'], /csr_digest = "md5" is too weak/],
    ['an unknown cipher', ['ca_key_cipher := rot13'], /ca_key_cipher = "rot13" is not a cipher/],
    ['an unknown key algorithm', ['key_algorithm := dsa'], /key_algorithm = "dsa" is not one of rsa, ec/],
    ['a relative remote path', ['certs_remote_dir := etc/certs'], /certs_remote_dir = "etc\/certs" is not an absolute path/],
    ['a remote path with a space', ['certs_remote_dir := /etc/my certs'], /certs_remote_dir = "\/etc\/my certs" has characters Postfix settings cannot hold/],
    ['an unknown table type', ['relay_clientcerts_table_type := mysql'], /relay_clientcerts_table_type = "mysql" is not one of/],
    ['a reference to an undefined variable', ['certs_passphrase_file := $(SECRETS_DIR)/p.gpg'], /settings\.mk:4: certs_passphrase_file refers to undefined \$\(SECRETS_DIR\)/],
    ['a make syntax error', ['smtpd_server_port 2500'], /settings\.mk:4: /],
    ['a missing domain', ['domain :='], /domain is not set/],
    ['a non-ASCII host name', ['smtp_client_hostname := mäilhost'], /is not a host name/],
    ['a country that is not two letters', ['cert_req_country := NLD'], /cert_req_country = "NLD" is not a two-letter country code/],
  ];
  for (const [what, lines, re] of bad) {
    it(`refuses ${what}`, function () {
      const withBase = [...BASE];
      for (const l of lines) {
        const name = l.split(/\s/)[0]!;
        const i = withBase.findIndex((b) => b.startsWith(`${name} `));
        if (i >= 0) withBase[i] = l;
        else withBase.push(l);
      }
      fails(withBase, re);
    });
  }

  it('names a missing settings file and what to do', function () {
    expect(() => loadSettings({ projectDir: dir })).to.throw(UsageError, /settings\.mk: settings file not found; create it \(postfix-tls-relay init\) or name another with -f FILE/);
  });
});
