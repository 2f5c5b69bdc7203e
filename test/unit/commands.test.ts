// Command builders and templates are pure: argv and the exact shell text, checked without running anything.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as openssl from '../../lib/programs/openssl.js';
import { gpgDecrypt } from '../../lib/programs/gpg.js';
import { shJoin, shq } from '../../lib/programs/shell.js';
import { fingerprintShell } from '../../lib/ca/fingerprint.js';

describe('shell quoting', function () {
  it('leaves plain words alone and single-quotes the rest, round-tripping through sh', function () {
    const args = ['plain', 'with space', "it's", '$(id)', '`id`', 'a;b', '', 'ümlaut', 'new\nline', '--opt=x,y'];
    expect(shq('certs/ca/x.pem')).to.equal('certs/ca/x.pem');
    expect(shq("it's")).to.equal(`'it'\\''s'`);
    const echoed = execFileSync('sh', ['-c', `for a in ${shJoin(args)}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
    expect(echoed.split('\0').slice(0, -1)).to.deep.equal(args);
  });
});

describe('openssl command builders', function () {
  it('genpkey: an EC leaf key, no passphrase involved', function () {
    const c = openssl.genpkey({ key: { algorithm: 'ec', curve: 'P-256' }, out: 'k.tmp' });
    expect(c.argv).to.deep.equal(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:named_curve', '-out', 'k.tmp']);
    expect(c.passphraseOnStdin).to.equal(false);
    expect(c.display).to.equal(shJoin(c.argv));
  });

  it('genpkey: the encrypted CA key reads the passphrase from stdin, shown as the gpg pipe', function () {
    const c = openssl.genpkey({ key: { algorithm: 'rsa', bits: 4096 }, out: 'ca.tmp', cipher: 'aes256', passphraseFile: '/home/a b/pass.gpg' });
    expect(c.argv).to.deep.equal(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096', '-aes256', '-pass', 'stdin', '-out', 'ca.tmp']);
    expect(c.passphraseOnStdin).to.equal(true);
    expect(c.display).to.equal(`gpg --batch --decrypt '/home/a b/pass.gpg' | openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -aes256 -pass stdin -out ca.tmp`);
    expect(gpgDecrypt('/p.gpg')).to.deep.equal(['gpg', '--batch', '--decrypt', '/p.gpg']);
  });

  it('req, ca and verify build the documented invocations', function () {
    expect(openssl.req({ config: 'c.cnf', key: 'k.pem', out: 'o.tmp', digest: 'sha256', x509: { days: 3650 }, passphraseFile: 'p.gpg' }).display)
      .to.equal('gpg --batch --decrypt p.gpg | openssl req -new -config c.cnf -sha256 -x509 -days 3650 -key k.pem -passin stdin -out o.tmp');
    expect(openssl.caSign({ config: 'ca.cnf', extfile: 'h.cnf', extensions: 'leaf_ext', csr: 'h.csr', out: 'h.tmp', passphraseFile: 'p.gpg' }).argv)
      .to.deep.equal(['openssl', 'ca', '-batch', '-notext', '-config', 'ca.cnf', '-extfile', 'h.cnf', '-extensions', 'leaf_ext', '-passin', 'stdin', '-in', 'h.csr', '-out', 'h.tmp']);
    expect(openssl.verify({ caFile: 'ca.pem', cert: 'c.pem', purpose: 'sslclient' }).display).to.equal('openssl verify -x509_strict -CAfile ca.pem -purpose sslclient c.pem');
  });

  it('fingerprint shell pipelines name the digest', function () {
    expect(fingerprintShell('c.pem', 'sha256', 'pubkey')).to.equal("openssl x509 -in c.pem -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -c | sed 's/^.*= //' | tr a-f A-F");
    expect(fingerprintShell('c.pem', 'md5', 'cert')).to.equal("openssl x509 -in c.pem -noout -fingerprint -md5 | sed 's/^[^=]*=//'");
  });
});
