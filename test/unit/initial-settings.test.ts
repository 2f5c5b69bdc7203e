// The settings.mk that init writes: it loads as written, with the new-setup defaults, and documents
// every other setting.
import { expect } from 'chai';
import { SETTINGS } from '../../lib/settings/catalog.js';
import { loadSettings } from '../../lib/settings/index.js';
import { initialSettingsText, makeValue, splitHost, type InitAnswers } from '../../lib/settings/initial.js';
import { parseMakeText, MakeVariables } from '../../lib/settings/makefile.js';

const answers: InitAnswers = {
  domain: 'Example.ORG',
  relay: 'relayhost',
  port: 2525,
  clients: ['mailhost', 'backup.example.org', 'far.other.net'],
  passphraseFile: 'ca-passphrase.gpg',
  recipient: 'admin@example.org',
};

describe('settings.mk for a new setup (lib/settings/initial.ts)', () => {
  it('splits names the way the seed settings want them', () => {
    expect(splitHost('relayhost', 'example.org')).to.deep.equal({ hostname: 'relayhost' });
    expect(splitHost('Relayhost.Example.org', 'example.org')).to.deep.equal({ hostname: 'relayhost' });
    expect(splitHost('relay.other.net', 'example.org')).to.deep.equal({ hostname: 'relay', fqdn: 'relay.other.net' });
    expect(splitHost('a.b.example.org', 'example.org')).to.deep.equal({ hostname: 'a', fqdn: 'a.b.example.org' });
  });

  it('loads back as written: hosts, port, EC keys, sha256 public-key fingerprints, AES-256 CA key', () => {
    const s = loadSettings({ projectDir: '/tmp/p', text: { content: initialSettingsText(answers), name: 'settings.mk' }, env: {} });
    expect(s.warnings).to.deep.equal([]);
    expect(s.domain).to.equal('example.org');
    expect(s.server.fqdn).to.equal('relayhost.example.org');
    expect(s.server.port).to.equal(2525);
    expect(s.clients.map((c) => c.fqdn)).to.deep.equal(['mailhost.example.org', 'backup.example.org', 'far.other.net']);
    expect(s.caKey).to.deep.equal({ algorithm: 'ec', curve: 'P-256' });
    expect(s.leafKey).to.deep.equal({ algorithm: 'ec', curve: 'P-256' });
    expect([s.fingerprintKind, s.fingerprintDigest, s.signingDigest, s.caKeyCipher]).to.deep.equal(['pubkey', 'sha256', 'sha256', 'aes256']);
    expect(s.passphraseFile).to.equal('/tmp/p/ca-passphrase.gpg');
  });

  it('a relay outside the domain gets its own smtpd_server_fqdn', () => {
    const s = loadSettings({ projectDir: '/tmp/p', text: { content: initialSettingsText({ ...answers, relay: 'smtp.isp.net' }), name: 'settings.mk' }, env: {} });
    expect(s.server.fqdn).to.equal('smtp.isp.net');
  });

  it('lists every other setting, commented out, with its meaning', () => {
    const text = initialSettingsText(answers);
    for (const s of SETTINGS) expect(text, s.name).to.match(new RegExp(`^(# )?${s.name} +:=`, 'm'));
    expect(text).to.match(/^## days: Validity of the relay and client certificates, in days\.\n# days +:= 365$/m);
  });

  it('escapes $ and # in values so make reads them back unchanged', () => {
    const v = new MakeVariables({ env: {} });
    v.assignAll(parseMakeText(`x := ${makeValue('/a $b #c\\#d')}\n`, 't'));
    expect(v.resolve('x')?.value).to.equal('/a $b #c\\#d');
  });
});
