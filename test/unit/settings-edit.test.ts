// add-client's in-place edit of settings.mk: one word appended, every other byte kept, and the result
// read back by the real settings parser.
import { expect } from 'chai';
import { appendToList } from '../../lib/settings/edit.js';
import { loadSettings } from '../../lib/settings/index.js';

const BASE = [
  '# Relay settings',
  'domain                  := example.org',
  'smtp_client_hostname    := mailhost',
  'smtpd_server_hostname   := relayhost',
  '',
].join('\n');

function clients(text: string): string[] {
  return loadSettings({ projectDir: '/tmp', text: { content: text, name: 'settings.mk' }, env: {} }).clients.map((c) => c.fqdn);
}

describe('settings.mk in-place edit (add-client)', function () {
  it('appends to an existing list, before its comment, keeping the spacing', function () {
    const text = BASE.replace('smtpd_server_hostname', 'smtp_client_hostnames   := backup   # more clients\nsmtpd_server_hostname');
    const r = appendToList(text, 'settings.mk', 'smtp_client_hostnames', 'third', 'smtp_client_hostname');
    expect(r.created).to.equal(false);
    expect(r.line).to.equal(4);
    expect(r.text).to.equal(text.replace('backup   # more', 'backup third   # more'));
    expect(clients(r.text)).to.deep.equal(['mailhost.example.org', 'backup.example.org', 'third.example.org']);
  });

  it('creates the line after smtp_client_hostname, aligned like it, when the list is missing', function () {
    const r = appendToList(BASE, 'settings.mk', 'smtp_client_hostnames', 'backup', 'smtp_client_hostname');
    expect(r.created).to.equal(true);
    expect(r.text.split('\n')).to.deep.equal([
      '# Relay settings',
      'domain                  := example.org',
      'smtp_client_hostname    := mailhost',
      'smtp_client_hostnames   := backup',
      'smtpd_server_hostname   := relayhost',
      '',
    ]);
    expect(clients(r.text)).to.deep.equal(['mailhost.example.org', 'backup.example.org']);
  });

  it('keeps tab alignment (the seed style) and CRLF line endings', function () {
    const text = 'domain\t\t\t:= example.org\r\nsmtp_client_hostname  \t\t:= mailhost\r\nsmtpd_server_hostname \t\t:= relayhost\r\n';
    const r = appendToList(text, 'settings.mk', 'smtp_client_hostnames', 'backup', 'smtp_client_hostname');
    expect(r.text).to.equal('domain\t\t\t:= example.org\r\nsmtp_client_hostname  \t\t:= mailhost\r\nsmtp_client_hostnames  \t\t:= backup\r\nsmtpd_server_hostname \t\t:= relayhost\r\n');
    expect(clients(r.text)).to.deep.equal(['mailhost.example.org', 'backup.example.org']);
  });

  it('appends to the last line of a continued assignment and to the last of several (+=)', function () {
    const text = `${BASE}smtp_client_hostnames := a \\\n    b\nsmtp_client_hostnames += c # the last one\n`;
    const r = appendToList(text, 'settings.mk', 'smtp_client_hostnames', 'd.example.net', 'smtp_client_hostname');
    expect(r.text.endsWith('smtp_client_hostnames += c d.example.net # the last one\n')).to.equal(true);
    expect(clients(r.text)).to.deep.equal(['mailhost.example.org', 'a.example.org', 'b.example.org', 'c.example.org', 'd.example.net']);
    const cont = appendToList(`${BASE}smtp_client_hostnames := a \\\n    b\n`, 'settings.mk', 'smtp_client_hostnames', 'c', undefined);
    expect(cont.text.endsWith('    b c\n')).to.equal(true);
    expect(cont.line).to.equal(6);
  });

  it('fills an empty assignment and leaves an escaped \\# alone', function () {
    const r = appendToList(`${BASE}smtp_client_hostnames :=\n`, 'settings.mk', 'smtp_client_hostnames', 'backup');
    expect(r.text.endsWith('smtp_client_hostnames := backup\n')).to.equal(true);
    const esc = appendToList(`${BASE}cert_req_ou := IT \\#1\nsmtp_client_hostnames := x # c\n`, 'settings.mk', 'smtp_client_hostnames', 'y');
    expect(esc.text).to.include('cert_req_ou := IT \\#1\nsmtp_client_hostnames := x y # c\n');
  });
});
