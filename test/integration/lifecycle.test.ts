// The lifecycle through the real CLI, real openssl and real gpg: several clients, add-client, renewal with
// the same key, a new key with an overlap window, revocation with a CRL, status --check, CA renewal.
// Every certificate fact is checked with openssl itself, not with the code under test.
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createProject, PASSPHRASE, settingsText, type TestProject } from '../support/project.js';
import { allowlistEntries, certFingerprint, pubkeyFingerprint, serialOf, sh, verify } from '../support/certs.js';
import { changedFiles, snapshot } from '../support/tree.js';

const D = 'example.test';
const RELAY = `relayhost.${D}`;
const MAIL = `mailhost.${D}`;
const BACKUP = `backup.${D}`;
const THIRD = `third.${D}`;
const FOURTH = `fourth.${D}`;
const CA = `certs/ca/${D}-ca.crt.pem`;
const CRL = `certs/ca/${D}-ca.crl.pem`;
const ALLOW = 'etc/postfix/relay_clientcerts';
const RELAY_ALLOW = `out/${RELAY}/root/etc/postfix/relay_clientcerts`;
const cert = (h: string) => `certs/smtp-client/${h}.crt.pem`;
const key = (h: string) => `certs/smtp-client/${h}.key.pem`;

function ok(p: TestProject, args: string[]): string {
  const r = p.cli(args);
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).to.equal(0);
  return r.stdout;
}

function json<T = any>(p: TestProject, args: string[]): T { // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.parse(ok(p, [...args, '--json'])) as T;
}

describe('lifecycle: many clients, add-client, renew, rekey, revoke, status --check, renew --ca', function () {
  let p: TestProject;
  const f = (rel: string) => p.file(rel);
  const listed = () => new Map(allowlistEntries(f(ALLOW)));

  before(function () {
    p = createProject({
      settings: (pass) => settingsText(pass, [
        'smtp_client_hostnames := backup third',
        // The relay's Postfix config directory "on this machine", to see revoke's permit_tls_all_clientcerts check.
        `smtpd_server_postfix_dir := ${path.join(path.dirname(pass), 'relay-etc')}`,
        'smtpd_server_relay_clientcerts_in := /etc/postfix/relay_clientcerts',
      ].join('\n')),
    });
    ok(p, ['build', '-q']);
  });

  after(function () {
    p?.dispose();
  });

  it('gives every client a key (0600), a certificate, a bundle and an allowlist line equal to openssl\'s public-key fingerprint', function () {
    const entries = listed();
    expect([...entries.values()]).to.deep.equal([MAIL, BACKUP, THIRD]);
    for (const h of [MAIL, BACKUP, THIRD]) {
      expect(statSync(f(key(h))).mode & 0o777).to.equal(0o600);
      expect(entries.get(pubkeyFingerprint(f(cert(h))))).to.equal(h);
      expect(pubkeyFingerprint(f(key(h)), 'key')).to.equal(pubkeyFingerprint(f(cert(h))));
      expect(verify(f(CA), f(cert(h)), ['-x509_strict', '-purpose', 'sslclient']).ok).to.equal(true);
      expect(existsSync(f(`out/${h}/apply.sh`))).to.equal(true);
    }
    expect(readFileSync(f(RELAY_ALLOW), 'utf8')).to.equal(readFileSync(f(ALLOW), 'utf8'));
  });

  it('add-client edits settings.mk in place and touches no other client\'s files, only the relay\'s allowlist', function () {
    const settingsBefore = readFileSync(f('settings.mk'), 'utf8');
    const before = snapshot(p.dir, (r) => r === '.gnupg');
    const out = ok(p, ['add-client', 'fourth']);
    expect(out).to.include(`added ${FOURTH}`);
    const settingsAfter = readFileSync(f('settings.mk'), 'utf8');
    expect(settingsAfter).to.equal(settingsBefore.replace('smtp_client_hostnames := backup third', 'smtp_client_hostnames := backup third fourth'));
    const changed = changedFiles(before, snapshot(p.dir, (r) => r === '.gnupg'));
    const allowed = (r: string) =>
      r === 'settings.mk' || r === ALLOW || r === RELAY_ALLOW || r === 'audit.log'
      || ['state.json', 'tree.json', 'up-to-date.json', 'cert-facts.json'].some((b) => r === `.postfix-tls-relay/${b}`) // the tool's bookkeeping
      || r === '.postfix-tls-relay/keys.json' // the new client's key recorded
      || r.startsWith(`certs/smtp-client/${FOURTH}.`) || r.startsWith(`out/${FOURTH}/`) || r.startsWith('certs/ca/db/');
    expect(changed.filter((r) => !allowed(r)), 'files changed that belong to others').to.deep.equal([]);
    expect(changed).to.include.members([ALLOW, RELAY_ALLOW, cert(FOURTH), key(FOURTH), `out/${FOURTH}/apply.sh`]);
    expect(changed.filter((r) => r.startsWith('certs/ca/db/') && !/index\.txt|newcerts\//.test(r))).to.deep.equal([]);
    expect(listed().get(pubkeyFingerprint(f(cert(FOURTH))))).to.equal(FOURTH);

    // Again: nothing to add, nothing rewritten; the relay and bad names are refused in one line.
    const again = p.cli(['add-client', FOURTH]);
    expect(again.code).to.equal(0);
    expect(again.stderr).to.include('already a client');
    expect(readFileSync(f('settings.mk'), 'utf8')).to.equal(settingsAfter);
    for (const bad of ['relayhost', 'bad_name', 'x..example.test']) {
      const r = p.cli(['add-client', bad]);
      expect(r.code, bad).to.equal(2);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    }
    expect(readFileSync(f('settings.mk'), 'utf8')).to.equal(settingsAfter);
  });

  it('renew with the same key: new serial, same public key, allowlist and relay bundle byte for byte the same', function () {
    const oldSerial = serialOf(f(cert(MAIL)));
    const oldFp = pubkeyFingerprint(f(cert(MAIL)));
    copyFileSync(f(cert(MAIL)), f('old-mailhost.crt.pem'));
    const relayBefore = snapshot(f(`out/${RELAY}`));
    const allowBefore = readFileSync(f(ALLOW));
    const r = json(p, ['renew', MAIL]);
    expect(r.renewed).to.have.length(1);
    expect(r.renewed[0]).to.include({ fqdn: MAIL, newKey: false, fingerprintChanged: false, rotation: false });
    expect(r.relayChanged).to.equal(false);
    expect(r.deploy).to.deep.equal([MAIL]);
    expect(serialOf(f(cert(MAIL)))).to.not.equal(oldSerial);
    expect(pubkeyFingerprint(f(cert(MAIL)))).to.equal(oldFp);
    expect(readFileSync(f(ALLOW)).equals(allowBefore)).to.equal(true);
    const relayAfter = snapshot(f(`out/${RELAY}`));
    expect([...relayAfter].map(([n, s]) => [n, s.sha256])).to.deep.equal([...relayBefore].map(([n, s]) => [n, s.sha256]));
    expect(verify(f(CA), f(cert(MAIL)), ['-x509_strict', '-purpose', 'sslclient']).ok).to.equal(true);
    expect(readFileSync(f(`out/${MAIL}/root/etc/postfix-tls-based-relaying/smtp-client/${MAIL}.crt.pem`), 'utf8')).to.equal(readFileSync(f(cert(MAIL)), 'utf8'));
    // The text form says so.
    expect(ok(p, ['renew', MAIL])).to.include('The relay needs no change');
    const audit = readFileSync(f('audit.log'), 'utf8');
    expect(audit).to.include(`"step":"cert:${MAIL}"`);
    expect(audit).to.not.include(PASSPHRASE);
  });

  it('renew without names takes what expires within --within days; status --check fails on it until then', function () {
    // A certificate issued "long ago": signed by hand for 5 days with the project's own CA database.
    const cnf = `certs/smtp-client/${BACKUP}.cnf`;
    sh(`gpg --batch --quiet --decrypt ${p.passphraseFile} | openssl ca -batch -notext -config certs/ca/openssl-ca.cnf -extfile ${cnf} -extensions leaf_ext -days 5 -passin stdin -in certs/smtp-client/${BACKUP}.csr.pem -out ${cert(BACKUP)}`, { cwd: p.dir, env: p.env });
    // Until its bundle holds it, status --check also says that build would change the bundle.
    expect(p.cli(['status', '--check', '-q']).stderr).to.match(new RegExp(`out/${BACKUP.replace(/\./g, '\\.')}/: \\d+ file\\(s\\) missing or out of date`));
    ok(p, ['build', '-q']);
    const check = p.cli(['status', '--check', '-q']);
    expect(check.code).to.equal(1);
    expect(check.stdout).to.equal('');
    expect(check.stderr).to.match(new RegExp(`${BACKUP}: certificate expires in 4 day\\(s\\)`));
    expect(check.stderr.trim().split('\n')).to.have.length(1);
    expect(p.cli(['status', '--check', '--warn-days', '3', '-q']).code).to.equal(0);
    const r = json(p, ['renew']);
    expect(r.renewed.map((x: { fqdn: string }) => x.fqdn)).to.deep.equal([BACKUP]);
    expect(json(p, ['status']).hosts.find((h: { fqdn: string }) => h.fqdn === BACKUP).daysLeft).to.be.greaterThan(300);
    const quiet = p.cli(['status', '--check', '-q']);
    expect([quiet.code, quiet.stdout, quiet.stderr]).to.deep.equal([0, '', '']);
    expect(ok(p, ['renew'])).to.include('nothing expires within 30 days');
    // Problems are listed for humans too, with a hint, and --warn-days is honoured.
    const far = p.cli(['status', '--check', '--warn-days', '400']);
    expect(far.code).to.equal(1);
    expect(far.stdout).to.include('Problems (warning at 400 days');
    expect(far.stdout).to.include(`postfix-tls-relay renew ${MAIL}`);
  });

  it('renew --rekey keeps the old and the new fingerprint on the relay until renew --finish', function () {
    const oldKey = readFileSync(f(key(BACKUP)));
    const oldSerial = serialOf(f(cert(BACKUP)));
    const oldFp = pubkeyFingerprint(f(cert(BACKUP)));
    copyFileSync(f(cert(BACKUP)), f('old-backup.crt.pem'));
    const r = json(p, ['renew', BACKUP, '--rekey']);
    expect(r.renewed[0]).to.include({ fqdn: BACKUP, newKey: true, fingerprintChanged: true, rotation: true });
    expect(r.relayChanged).to.equal(true);
    expect(r.deploy).to.deep.equal([RELAY, BACKUP]);
    const newFp = pubkeyFingerprint(f(cert(BACKUP)));
    expect(newFp).to.not.equal(oldFp);
    expect(pubkeyFingerprint(f(key(BACKUP)), 'key')).to.equal(newFp);
    const entries = allowlistEntries(f(ALLOW));
    expect(entries).to.deep.include([oldFp, BACKUP]);
    expect(entries).to.deep.include([newFp, BACKUP]);
    expect(readFileSync(f(RELAY_ALLOW), 'utf8')).to.equal(readFileSync(f(ALLOW), 'utf8'));
    // The old key is set aside, never deleted.
    const retired = f(`certs/smtp-client/retired/${BACKUP}.${oldSerial}.key.pem`);
    expect(readFileSync(retired).equals(oldKey)).to.equal(true);
    expect(statSync(retired).mode & 0o777).to.equal(0o600);
    // status shows the rotation; a plain build keeps both entries.
    const st = json(p, ['status']);
    expect(st.rotations.map((x: { fqdn: string }) => x.fqdn)).to.deep.equal([BACKUP]);
    expect(st.hosts.find((h: { fqdn: string }) => h.fqdn === BACKUP).rotation).to.include({ reason: 'rekey' });
    expect(ok(p, ['status'])).to.match(/Rotations in progress[\s\S]*backup\.example\.test: rekey since/);
    ok(p, ['build', '-q']);
    expect(allowlistEntries(f(ALLOW))).to.deep.include([oldFp, BACKUP]);
    // Finishing drops the old entry only.
    const fin = json(p, ['renew', '--finish', 'backup']);
    expect(fin).to.include({ relayChanged: true });
    expect(fin.finished).to.deep.equal([BACKUP]);
    const after = allowlistEntries(f(ALLOW));
    expect(after).to.not.deep.include([oldFp, BACKUP]);
    expect(after).to.deep.include([newFp, BACKUP]);
    expect(json(p, ['status']).rotations).to.deep.equal([]);
    expect(readFileSync(f(RELAY_ALLOW), 'utf8')).to.equal(readFileSync(f(ALLOW), 'utf8'));
    const none = p.cli(['renew', '--finish']);
    expect(none.code).to.equal(2);
  });

  it('revoke: off the allowlist and the relay bundle, revoked in the database, in the CRL; verify -crl_check refuses it only', function () {
    mkdirSync(f('relay-etc'), { recursive: true });
    writeFileSync(f('relay-etc/main.cf'), 'smtpd_relay_restrictions = permit_tls_all_clientcerts, reject\n');
    const serial = serialOf(f(cert(THIRD)));
    copyFileSync(f(cert(THIRD)), f('old-third.crt.pem'));
    const r = p.cli(['revoke', 'third', '--reason', 'keyCompromise']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/relay-etc\/main\.cf \(on this machine\) uses permit_tls_all_clientcerts/);
    expect(r.stdout).to.include(`Deploy out/${RELAY}/`);
    expect([...listed().values()]).to.not.include(THIRD);
    expect(readFileSync(f(RELAY_ALLOW), 'utf8')).to.equal(readFileSync(f(ALLOW), 'utf8'));
    expect(readFileSync(f('certs/ca/db/index.txt'), 'utf8')).to.match(new RegExp(`^R\\t\\S+\\t\\S+,keyCompromise\\t${serial}\\t`, 'm'));
    const crlText = sh(`openssl crl -in ${f(CRL)} -noout -text`);
    expect(crlText).to.include(`Serial Number: ${serial}`).and.to.include('Key Compromise');
    const check = (h: string, purpose = 'sslclient') => verify(f(CA), f(h), ['-x509_strict', '-purpose', purpose, '-CRLfile', f(CRL), '-crl_check']);
    const revoked = check(cert(THIRD));
    expect(revoked.ok).to.equal(false);
    expect(revoked.output).to.include('certificate revoked');
    for (const h of [MAIL, BACKUP, FOURTH]) expect(check(cert(h)).ok, h).to.equal(true);
    expect(check(`certs/smtpd-server/${RELAY}.crt.pem`, 'sslserver').ok).to.equal(true);
    const st = json(p, ['status']);
    expect(st.hosts.find((h: { fqdn: string }) => h.fqdn === THIRD)).to.include({ revoked: true, listed: false });
    expect(st.hosts.find((h: { fqdn: string }) => h.fqdn === MAIL)).to.include({ revoked: false, listed: true });
    expect(st.crl.revoked).to.deep.equal([serial]);
    expect(new Date(st.crl.nextUpdate).toISOString()).to.equal(new Date(sh(`openssl crl -in ${f(CRL)} -noout -nextupdate`).trim().replace(/^[^=]*=/, '')).toISOString());
    expect(p.cli(['status', '--check', '-q']).code).to.equal(0);
    const audit = readFileSync(f('audit.log'), 'utf8');
    expect(audit).to.include('-revoke certs/smtp-client/third.example.test.crt.pem -crl_reason keyCompromise');
    expect(audit).to.include('-gencrl');
    expect(audit).to.not.include(PASSPHRASE);
    // Twice is harmless.
    const again = p.cli(['revoke', THIRD]);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stderr).to.include('already revoked');
    // A settings change that re-issues every certificate leaves the revoked one alone, and off the list.
    const revokedBytes = readFileSync(f(cert(THIRD)));
    const mailSerial = serialOf(f(cert(MAIL)));
    ok(p, ['build', '-q', '--set', 'days=200']);
    expect(serialOf(f(cert(MAIL)))).to.not.equal(mailSerial);
    expect(readFileSync(f(cert(THIRD))).equals(revokedBytes)).to.equal(true);
    expect([...listed().values()]).to.deep.equal([MAIL, BACKUP, FOURTH]);
    ok(p, ['build', '-q']);
  });

  it('status --check fails on a certificate revoked behind our back but still listed, and on a stale CRL', function () {
    const serial = serialOf(f(cert(MAIL)));
    sh(`gpg --batch --quiet --decrypt ${p.passphraseFile} | openssl ca -batch -config certs/ca/openssl-ca.cnf -passin stdin -revoke ${cert(MAIL)}`, { cwd: p.dir, env: p.env });
    const r = p.cli(['status', '--check', '-q']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`${MAIL}: revoked but still listed on the relay`);
    expect(r.stderr).to.include('does not list 1 revoked certificate(s)');
    // A build takes it off the allowlist (the database is the record); the crl command brings the CRL up to date.
    ok(p, ['build', '-q']);
    expect([...listed().values()]).to.not.include(MAIL);
    ok(p, ['crl', '-q']);
    expect(sh(`openssl crl -in ${f(CRL)} -noout -text`)).to.include(`Serial Number: ${serial}`);
    expect(p.cli(['status', '--check', '-q']).code).to.equal(0);
    // A CRL about to expire is a problem of its own.
    ok(p, ['crl', '-q', '--set', 'crl_days=1']);
    expect(json(p, ['build']).commands, 'crl_days re-issues nothing').to.deep.equal([]);
    const soon = p.cli(['status', '--check', '-q']);
    expect(soon.code).to.equal(1);
    expect(soon.stderr).to.match(/CRL certs\/ca\/example\.test-ca\.crl\.pem expires in 0 day\(s\)/);
    ok(p, ['crl', '-q']);
    expect(p.cli(['status', '--check', '-q']).code).to.equal(0);
  });

  it('issuing a revoked host again gives it a new key and lists it again, with no overlap', function () {
    // By renew, and by add-client of a host that is already a client but revoked.
    for (const [h, args] of [[THIRD, ['renew', THIRD]], [MAIL, ['add-client', 'mailhost']]] as const) {
      const oldKey = readFileSync(f(key(h)));
      const settings = readFileSync(f('settings.mk'), 'utf8');
      const r = p.cli([...args, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/revoked: (it gets a new key|issuing it again with a new key)/);
      expect(readFileSync(f('settings.mk'), 'utf8')).to.equal(settings);
      expect(JSON.parse(r.stdout).renewed[0]).to.include({ newKey: true, rotation: false });
      expect(readFileSync(f(key(h))).equals(oldKey)).to.equal(false);
      expect(listed().get(pubkeyFingerprint(f(cert(h))))).to.equal(h);
      expect(allowlistEntries(f(ALLOW)).filter(([, x]) => x === h)).to.have.length(1);
    }
    expect(json(p, ['status']).rotations).to.deep.equal([]);
    expect(verify(f(CA), f(cert(THIRD)), ['-CRLfile', f(CRL), '-crl_check']).ok).to.equal(true);
    expect(verify(f(CA), f('old-third.crt.pem'), ['-CRLfile', f(CRL), '-crl_check']).ok).to.equal(false);
    // renew --all never picks a revoked host by itself; named, it does.
    expect(p.cli(['status', '--check', '-q']).code).to.equal(0);
  });

  it('renew --ca re-signs the CA certificate with its key: leaves untouched and still verifying (strict, with the CRL)', function () {
    const leaves = [MAIL, BACKUP, THIRD, FOURTH].map((h) => cert(h));
    const leafBytes = leaves.map((l) => readFileSync(f(l)));
    const oldCaSerial = serialOf(f(CA));
    const oldSubject = sh(`openssl x509 -in ${f(CA)} -noout -subject`);
    const oldPub = pubkeyFingerprint(f(CA));
    const r = json(p, ['renew', '--ca']);
    expect(r.renewed).to.deep.equal([]);
    expect(r.deploy).to.deep.equal([RELAY, MAIL, BACKUP, THIRD, FOURTH]);
    expect(serialOf(f(CA))).to.not.equal(oldCaSerial);
    expect(sh(`openssl x509 -in ${f(CA)} -noout -subject`)).to.equal(oldSubject);
    expect(pubkeyFingerprint(f(CA))).to.equal(oldPub);
    leaves.forEach((l, i) => expect(readFileSync(f(l)).equals(leafBytes[i]!), l).to.equal(true));
    for (const l of leaves) expect(verify(f(CA), f(l), ['-x509_strict', '-CRLfile', f(CRL), '-crl_check']).ok, l).to.equal(true);
    expect(verify(f(CA), f(`certs/smtpd-server/${RELAY}.crt.pem`), ['-x509_strict', '-purpose', 'sslserver']).ok).to.equal(true);
    for (const h of [RELAY, MAIL, FOURTH]) {
      expect(readFileSync(f(`out/${h}/root/etc/postfix-tls-based-relaying/ca/${D}-ca.crt.pem`), 'utf8')).to.equal(readFileSync(f(CA), 'utf8'));
    }
    // And nothing is re-issued by the next build.
    expect(json(p, ['build']).commands).to.deep.equal([]);
  });

  it('names what is wrong in one line: unknown hosts, --finish without names', function () {
    for (const args of [['renew', 'nosuch'], ['revoke', 'nosuch'], ['renew', '--finish'], ['renew', '--finish', MAIL, '--rekey']]) {
      const r = p.cli(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    }
  });
});

describe('lifecycle with certificate fingerprints (fingerprint_kind = cert)', function () {
  let p: TestProject;
  before(function () {
    p = createProject({ settings: (pass) => settingsText(pass, 'fingerprint_kind := cert') });
    ok(p, ['build', '-q']);
  });
  after(function () {
    p?.dispose();
  });

  it('renewal says the relay must be updated, lists old and new certificate until --finish, and updates the relay bundle', function () {
    const oldFp = certFingerprint(p.file(cert(MAIL)));
    const r = p.cli(['renew', MAIL]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('The relay must be updated');
    const newFp = certFingerprint(p.file(cert(MAIL)));
    expect(newFp).to.not.equal(oldFp);
    expect(allowlistEntries(p.file(ALLOW))).to.deep.equal([[newFp, MAIL], [oldFp, MAIL]]);
    expect(readFileSync(p.file(RELAY_ALLOW), 'utf8')).to.equal(readFileSync(p.file(ALLOW), 'utf8'));
    ok(p, ['renew', '--finish', MAIL, '-q']);
    expect(allowlistEntries(p.file(RELAY_ALLOW))).to.deep.equal([[newFp, MAIL]]);
  });
});
