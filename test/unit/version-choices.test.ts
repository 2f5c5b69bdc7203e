// What deploy -n says apply.sh chooses by the host's Postfix version: the same parameters apply.sh
// sets (postfix/config.ts), for one relay and for two.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clientConfig } from '../../lib/postfix/config.js';
import { versionChoices } from '../../lib/postfix/version-choices.js';
import { loadSettings, type Settings } from '../../lib/settings/index.js';

function settings(lines: string[]): Settings {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-choices-'));
  writeFileSync(path.join(dir, 'settings.mk'), ['domain := example.org', 'smtp_client_hostname := mailhost', ...lines].join('\n'));
  try {
    return loadSettings({ projectDir: dir, overrides: [], env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const D = '/etc/postfix-tls-based-relaying';

describe('versionChoices (deploy -n)', function () {
  it('two relays: the relayhost list from Postfix 3.5, relayhost + smtp_fallback_relay before; chain files from 3.4', function () {
    const s = settings(['smtpd_server_hostname := relay1', 'smtpd_server_hostnames := relay2']);
    expect(versionChoices(s, s.clients[0]!)).to.deep.equal([
      'Postfix 3.5 or later: relayhost = [relay1.example.org]:2500, [relay2.example.org]:2500; older: relayhost = [relay1.example.org]:2500; smtp_fallback_relay = [relay2.example.org]:2500',
      `Postfix 3.4 or later: smtp_tls_chain_files = ${D}/smtp-client/mailhost.example.org.key.pem,${D}/smtp-client/mailhost.example.org.crt.pem; older: smtp_tls_cert_file = ${D}/smtp-client/mailhost.example.org.crt.pem; smtp_tls_key_file = ${D}/smtp-client/mailhost.example.org.key.pem`,
    ]);
    // The same values apply.sh sets.
    const c = clientConfig(s, s.clients[0]!);
    expect(versionChoices(s, s.clients[0]!)[0]).to.include(c.relays.list.main[0]!.value).and.include(c.relays.fallback.overrides[0]!.value);
  });

  it('one relay: the same relayhost on every Postfix; a relay: only its chain files or the pair', function () {
    const s = settings(['smtpd_server_hostname := relayhost']);
    expect(versionChoices(s, s.clients[0]!)[0]).to.equal('every Postfix: relayhost = [relayhost.example.org]:2500');
    expect(versionChoices(s, s.servers[0]!)).to.deep.equal([
      `Postfix 3.4 or later: smtpd_tls_chain_files = ${D}/smtpd-server/relayhost.example.org.key.pem,${D}/smtpd-server/relayhost.example.org.crt.pem; older: smtpd_tls_cert_file = ${D}/smtpd-server/relayhost.example.org.crt.pem; smtpd_tls_key_file = ${D}/smtpd-server/relayhost.example.org.key.pem`,
    ]);
  });
});
