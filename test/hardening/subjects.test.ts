// Subjects exactly as set (issue 27): every printable ASCII character in a subject setting reaches the
// certificate as it is — openssl reads its config with # $ \ and three kinds of quotes as special, and
// trims blanks at either end — checked with the real openssl on certificates the tool issued. Values
// without special characters render byte for byte as before (an upgrade re-issues nothing), and text
// that is not UTF-8 is refused, naming the setting.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dn } from '../../lib/plan/make.js';
import { CLI, settingsText, useProject, type TestProject } from '../support/project.js';

const CA_CERT = 'certs/ca/example.test-ca.crt.pem';
const CLIENT_CERT = 'certs/smtp-client/mailhost.example.test.crt.pem';
const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join('');

/** The subject's fields as openssl prints them without escaping anything (one per line). */
function subjectOf(p: TestProject, cert: string): Record<string, string> {
  const text = execFileSync('openssl', ['x509', '-in', p.file(cert), '-noout', '-subject', '-nameopt', 'sep_multiline,utf8'], { encoding: 'utf8' });
  const out: Record<string, string> = {};
  for (const line of text.split('\n').slice(1)) {
    const m = /^ {4}(\w+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** A value as a settings.mk line writes it: make's $ and # escaped. */
const makeText = (v: string) => v.replace(/\$/g, '$$$$').replace(/#/g, '\\#');

describe('hardening: the certificate\'s subject is exactly the setting', function () {
  this.timeout(180_000);
  const fx = useProject();

  it('every printable ASCII character, in every subject field and the CA\'s common name, with the real openssl', () => {
    // In chunks a field can hold (64 characters), each starting with a letter (make drops leading
    // blanks) and none ending in a backslash (a continuation) or a blank.
    const chunks = [0, 1, 2, 3].map((i) => `${'SLOU'[i]}${PRINTABLE.slice(i * 24, i * 24 + 24)}z`);
    const [st, l, o, ou] = chunks as [string, string, string, string];
    const cn = `CA ${[...PRINTABLE].reverse().join('').slice(0, 60)}`.replace(/ +$/, '');
    for (const c of PRINTABLE) expect(chunks.some((x) => x.includes(c)), JSON.stringify(c)).to.equal(true);
    writeFileSync(fx.p.file('settings.mk'), settingsText(fx.p.passphraseFile, [
      `cert_req_state := ${makeText(st)}`, `cert_req_locality := ${makeText(l)}`, `cert_req_organization := ${makeText(o)}`,
      `cert_req_ou := ${makeText(ou)}`, `ca_cert_req_cn := ${makeText(cn)}`].join('\n')));
    const r = fx.p.cli(['build', '-q']);
    expect(r.code, r.stderr).to.equal(0);
    const want = { C: 'NL', ST: st, L: l, O: o, OU: ou };
    expect(subjectOf(fx.p, CA_CERT)).to.deep.equal({ ...want, CN: cn });
    expect(subjectOf(fx.p, CLIENT_CERT)).to.deep.equal({ ...want, CN: 'mailhost.example.test' });
    const check = fx.p.cli(['status', '--check', '-q']);
    expect(check.code, check.stderr).to.equal(0); // the CA's subject is the one the settings describe
  });

  it('a backtick (openssl\'s third quote), quotes at either end and blanks at either end (from --set) are kept', () => {
    const set = { cert_req_ou: 'x`y', cert_req_organization: '"quoted"', cert_req_locality: ' two spaces  ', cert_req_state: "'it''s'" };
    const r = fx.p.cli(['build', '-q', ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`])]);
    expect(r.code, r.stderr).to.equal(0);
    expect(subjectOf(fx.p, CLIENT_CERT)).to.deep.include({ OU: 'x`y', O: '"quoted"', L: ' two spaces  ', ST: "'it''s'" });
  });

  it('bytes that are not UTF-8 in a subject from --set are refused, naming the setting, exit 2', () => {
    // The shell passes the raw byte 0xff; node reads argv as UTF-8 and makes it U+FFFD.
    const r = spawnSync('sh', ['-c', `exec "$0" "$1" build -C "$2" --set "cert_req_ou=Sales $(printf '\\377')"`, process.execPath, CLI, fx.p.dir], { env: fx.p.env, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/^postfix-tls-relay: --set: cert_req_ou is not UTF-8 text \(it holds U\+FFFD, the mark of bytes that were not UTF-8\); give the value in UTF-8$/m);
  });

  it('ordinary values render byte for byte as before: an upgrade re-issues nothing', () => {
    expect(dn({ C: 'NL', ST: 'Noord-Holland', L: 'Amsterdam', O: 'Example Inc.', OU: 'Mail & Relay (ops), 2nd floor' }, 'mailhost.example.org'))
      .to.equal('C = NL\nST = Noord-Holland\nL = Amsterdam\nO = Example Inc.\nOU = Mail & Relay (ops), 2nd floor\nCN = mailhost.example.org');
    // The characters escaped before are escaped as before.
    expect(dn({ O: 'a\\b$c#d"e\'f' }, 'x')).to.equal('O = a\\\\b\\$c\\#d\\"e\\\'f\nCN = x');
    expect(dn({ O: 'Straße Café 日本' }, 'x')).to.equal('O = Straße Café 日本\nCN = x');
  });
});
