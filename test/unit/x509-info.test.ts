// The small DER reader against what the real openssl makes and prints: CRL dates and revoked serials
// (UTCTime and GeneralizedTime), and a CA certificate's basicConstraints/keyUsage.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { caExtensions, crlInfo } from '../../lib/ca/x509-info.js';

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('x509-info: CRL and CA extension facts read from DER', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-x509-'));
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    // Like the seed Makefile's CA: openssl req -x509 with the system defaults (no keyUsage, no pathlen).
    openssl(['req', '-x509', ...ec, '-keyout', 'plain.key', '-subj', '/CN=plain', '-days', '2', '-out', 'plain.pem'], dir);
    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-subj', '/CN=ours', '-days', '2', '-out', 'ca.pem',
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    openssl(['req', '-new', ...ec, '-keyout', 'leaf.key', '-subj', '/CN=leaf', '-out', 'leaf.csr'], dir);
    openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-days', '1', '-out', 'v1.pem', '-set_serial', '7'], dir);
    // OpenSSL 3.2 and later (Debian 13) add key identifiers to what x509 -req makes, so it is v3; their
    // req -x509v1 (an option older versions do not have) still makes a v1 certificate without a config's extensions.
    if (!openssl(['x509', '-in', 'v1.pem', '-noout', '-text'], dir).includes('Version: 1 (0x0)')) {
      writeFileSync(path.join(dir, 'bare.cnf'), '[ req ]\ndistinguished_name = dn\n[ dn ]\n');
      openssl(['req', '-config', 'bare.cnf', '-x509', '-x509v1', '-key', 'leaf.key', '-subj', '/CN=leaf', '-days', '1', '-set_serial', '7', '-out', 'v1.pem'], dir);
    }
    writeFileSync(path.join(dir, 'ca.cnf'), [
      '[ ca ]', 'default_ca = t', '[ t ]', 'database = index.txt', 'crlnumber = crlnumber', 'certificate = ca.pem',
      'private_key = ca.key', 'default_md = sha256', 'default_crl_days = 3', '',
    ].join('\n'));
    // Two revoked serials, one with its high bit set (DER pads it with 00), and one valid entry.
    writeFileSync(path.join(dir, 'index.txt'), [
      'R\t301231000000Z\t241126000000Z,keyCompromise\t0A1B\tunknown\t/CN=a',
      'R\t301231000000Z\t241126000000Z\tF00D\tunknown\t/CN=b',
      'V\t301231000000Z\t\t0C\tunknown\t/CN=c',
      '',
    ].join('\n'));
    writeFileSync(path.join(dir, 'crlnumber'), '01\n');
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-gencrl', '-out', 'short.crl'], dir);
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-gencrl', '-crldays', '36500', '-out', 'long.crl'], dir);
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  const opensslDate = (file: string, field: 'nextupdate' | 'lastupdate') =>
    new Date(openssl(['crl', '-in', file, '-noout', `-${field}`], dir).trim().replace(/^[^=]*=/, ''));

  for (const name of ['short.crl', 'long.crl']) {
    it(`reads ${name}: the dates and revoked serials openssl prints`, function () {
      const info = crlInfo(readFileSync(path.join(dir, name)));
      expect(info.nextUpdate?.toISOString()).to.equal(opensslDate(name, 'nextupdate').toISOString());
      expect(info.thisUpdate.toISOString()).to.equal(opensslDate(name, 'lastupdate').toISOString());
      const text = openssl(['crl', '-in', name, '-noout', '-text'], dir);
      const printed = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]);
      expect(info.revoked).to.deep.equal(printed);
      expect(info.revoked).to.have.members(['0A1B', 'F00D']);
    });
  }

  it('the long CRL really uses GeneralizedTime (after 2049)', function () {
    expect(crlInfo(readFileSync(path.join(dir, 'long.crl'))).nextUpdate!.getUTCFullYear()).to.be.greaterThan(2100);
  });

  it('tells a CA with keyUsage and pathlen from a bare openssl req -x509 one, and sees a v1 leaf', function () {
    const read = (f: string) => caExtensions(new X509Certificate(readFileSync(path.join(dir, f))));
    expect(read('ca.pem')).to.deep.equal({ ca: true, pathLen: 0, hasKeyUsage: true, version: 3 });
    const plain = read('plain.pem');
    expect(plain).to.deep.equal({ ca: true, pathLen: undefined, hasKeyUsage: false, version: 3 });
    // What openssl itself says about the same two certificates.
    const plainText = openssl(['x509', '-in', 'plain.pem', '-noout', '-text'], dir);
    expect(plainText).to.match(/CA:TRUE\n/);
    expect(plainText).to.not.include('Key Usage');
    expect(openssl(['x509', '-in', 'ca.pem', '-noout', '-text'], dir)).to.include('Key Usage').and.to.include('CA:TRUE, pathlen:0');
    expect(read('v1.pem')).to.deep.equal({ ca: false, pathLen: undefined, hasKeyUsage: false, version: 1 });
    expect(openssl(['x509', '-in', 'v1.pem', '-noout', '-text'], dir)).to.include('Version: 1 (0x0)');
  });
});
