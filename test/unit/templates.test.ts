// The Postfix output as data and as rendered text: right parameters, right way round, no appends.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyContext } from '../../lib/plan/bundle.js';
import { clientConfig, relayConfig } from '../../lib/postfix/config.js';
import { renderEjs } from '../../lib/files/render.js';
import { loadSettings, type Settings } from '../../lib/settings/index.js';

function settings(extra: string[] = []): Settings {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-tpl-'));
  writeFileSync(path.join(dir, 'settings.mk'), ['domain := example.org', 'smtp_client_hostname := mailhost', 'smtpd_server_hostname := relayhost', ...extra].join('\n'));
  try {
    return loadSettings({ projectDir: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Postfix configuration', function () {
  it('client: main.cf only routes (relayhost, default_transport); the relay-bound TLS policy and certificate are on its own service', function () {
    const s = settings();
    const c = clientConfig(s, s.clients[0]!);
    expect(c.relays.list).to.deep.equal({ main: [{ name: 'relayhost', value: '[relayhost.example.org]:2500' }], overrides: [{ name: 'smtp_fallback_relay', value: '' }] });
    expect(c.main).to.deep.equal([{ name: 'default_transport', value: 'postfix-tls-relay' }]);
    expect(c.main.some((p) => p.name.startsWith('smtp_tls_'))).to.equal(false);
    expect([c.service, c.entry]).to.deep.equal(['postfix-tls-relay/unix', 'postfix-tls-relay unix - - n - - smtp']);
    expect(Object.fromEntries(c.overrides.map((p) => [p.name, p.value]))).to.deep.equal({
      smtp_tls_security_level: 'secure',
      smtp_tls_CAfile: '/etc/postfix-tls-based-relaying/ca/example.org-ca.crt.pem',
      smtp_tls_CApath: '',
      smtp_tls_loglevel: '1',
      smtp_tls_mandatory_ciphers: 'high',
      smtp_tls_mandatory_exclude_ciphers: 'kRSA,kDHE,PSK,SRP,SHA1,SHA256,SHA384,CAMELLIA,ARIA,AESCCM',
    });
    expect(c.protocols).to.deep.equal({
      ranged: [{ name: 'smtp_tls_mandatory_protocols', value: '>=TLSv1.2' }],
      excluded: [{ name: 'smtp_tls_mandatory_protocols', value: '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1' }],
    });
    const legacy = Object.fromEntries(c.tlsFiles.legacy.map((p) => [p.name, p.value]));
    expect(legacy.smtp_tls_cert_file).to.match(/\.crt\.pem$/);
    expect(legacy.smtp_tls_key_file).to.match(/\.key\.pem$/);
    expect(c.tlsFiles.modern[0]).to.deep.equal({ name: 'smtp_tls_chain_files', value: '/etc/postfix-tls-based-relaying/smtp-client/mailhost.example.org.key.pem,/etc/postfix-tls-based-relaying/smtp-client/mailhost.example.org.crt.pem' });
    // -o values cannot hold whitespace.
    for (const p of [...c.overrides, ...c.relays.list.overrides, ...c.relays.fallback.overrides, ...c.tlsFiles.modern, ...c.tlsFiles.legacy, ...c.protocols.ranged, ...c.protocols.excluded]) expect(p.value, p.name).to.not.match(/\s/);
    // What 0.1 set in main.cf: recognised by our CA file or certificate, every value it could have set.
    expect(c.formerMarkers.map((p) => p.name)).to.deep.equal(['smtp_tls_CAfile', 'smtp_tls_chain_files', 'smtp_tls_cert_file']);
    expect([...new Set(c.former.map((p) => p.name))]).to.deep.equal(['smtp_fallback_relay', 'smtp_tls_security_level', 'smtp_tls_CAfile', 'smtp_tls_CApath', 'smtp_tls_loglevel', 'smtp_tls_mandatory_protocols', 'smtp_tls_mandatory_ciphers', 'smtp_tls_chain_files', 'smtp_tls_cert_file', 'smtp_tls_key_file']);
  });

  it('relay: the service and its overrides, with the fingerprint digest set explicitly', function () {
    const r = relayConfig(settings(['signature_hash := md5', 'relay_clientcerts_table_type := hash']));
    expect(r.service).to.equal('2500/inet');
    expect(r.entry).to.equal('2500 inet n - n - - smtpd');
    const o = Object.fromEntries(r.overrides.map((p) => [p.name, p.value]));
    expect(o).to.include({
      smtpd_tls_security_level: 'encrypt',
      smtpd_tls_req_ccert: 'yes',
      smtpd_tls_fingerprint_digest: 'md5',
      relay_clientcerts: 'hash:/etc/postfix/relay_clientcerts',
      smtpd_relay_restrictions: 'permit_tls_clientcerts,reject',
      smtpd_client_restrictions: '',
      smtpd_recipient_restrictions: '',
    });
    for (const p of [...r.overrides, ...r.tlsFiles.modern, ...r.tlsFiles.legacy]) expect(p.value, p.name).to.not.match(/\s/);
    expect(Object.fromEntries(r.tlsFiles.legacy.map((p) => [p.name, p.value])).smtpd_tls_cert_file).to.match(/relayhost\.example\.org\.crt\.pem$/);
    expect(r.table).to.deep.include({ needsPostmap: true, dbSuffix: '.db' });
  });

  it('renders apply.sh as valid POSIX sh that edits with postconf -e/-M/-P, never appends', async function () {
    const s = settings();
    for (const host of [s.server, s.clients[0]!]) {
      const text = await renderEjs('apply.sh.ejs', applyContext(s, host));
      expect(text).to.not.match(/cat\s*>>|>>\s*\S*main\.cf|>>\s*\S*master\.cf/);
      expect(text).to.include(host.role === 'server' ? "postconf -c \"$config_dir\" -M '2500/inet=2500 inet n - n - - smtpd'" : "postconf -c \"$config_dir\" -M 'postfix-tls-relay/unix=postfix-tls-relay unix - - n - - smtp'");
      expect(text).to.include(`record=/etc/postfix-tls-based-relaying/undo-${host.role === 'server' ? 'smtpd-server' : 'smtp-client'}.txt`);
      execFileSync('sh', ['-n'], { input: text }); // syntax check by the real shell
      expect(text).to.not.include('&lt;').and.not.include('&#');
    }
  });
});
