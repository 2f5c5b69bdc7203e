// The core build against the real openssl and gpg: certificate contents, the allowlist, make-like
// skipping, the replayable shell script, and the passphrase kept out of every record.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestGpg, type TestGpg } from '../support/gpg.js';
import { CLI, createProject, PASSPHRASE, settingsText, type TestProject } from '../support/project.js';

const RELAY = 'relayhost.example.test';
const CLIENT = 'mailhost.example.test';
const BACKUP = 'backup.example.test';

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** The subject as openssl prints it in RFC 2253 form, the same in every OpenSSL version. */
const subject = (cert: string, cwd: string) => openssl(['x509', '-in', cert, '-noout', '-subject', '-nameopt', 'RFC2253'], cwd).trim().replace(/^subject=/, '');

interface AuditEntry {
  start: string;
  step: string;
  command: string;
  durationMs: number;
  exit: number;
}
const audit = (p: TestProject): AuditEntry[] =>
  fs.existsSync(p.file('audit.log'))
    ? fs.readFileSync(p.file('audit.log'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry)
    : [];

function buildJson(p: TestProject, args: string[] = []): { commands: string[]; steps: { id: string; state: string }[]; gpgDecryptions: number } {
  const r = p.cli(['build', '--json', ...args]);
  expect(r.code, r.stderr).to.equal(0);
  return JSON.parse(r.stdout) as { commands: string[]; steps: { id: string; state: string }[]; gpgDecryptions: number };
}

/**
 * Every file of `dir` 600 s in the past, all at one instant: a time taken per file would make a file aged
 * later (the CA key, say) a millisecond newer than one aged before it (the CA certificate), and a make-like
 * build then rightly remakes the older one (seen about once in ten runs on a busy machine).
 */
function ageTree(dir: string, at = new Date(Date.now() - 600_000)): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) fs.utimesSync(path.join(e.parentPath ?? e.path, e.name), at, at);
  }
}

describe('build (real openssl and gpg)', function () {
  let gpg: TestGpg;
  let p: TestProject;

  before(function () {
    gpg = createTestGpg();
    p = createProject({ gpg, settings: (pass) => settingsText(pass, 'smtp_client_hostnames := backup\ncert_req_ou := Mail & Relays "Ops"') });
  });
  after(function () {
    p?.dispose();
    gpg?.dispose();
  });

  it('builds the CA, the relay and both clients in one command, asking gpg once', function () {
    const r = buildJson(p);
    expect(r.gpgDecryptions).to.equal(1);
    for (const f of [
      'certs/ca/example.test-ca.key.pem', 'certs/ca/example.test-ca.crt.pem',
      `certs/smtpd-server/${RELAY}.key.pem`, `certs/smtpd-server/${RELAY}.csr.pem`, `certs/smtpd-server/${RELAY}.crt.pem`,
      `certs/smtp-client/${CLIENT}.key.pem`, `certs/smtp-client/${CLIENT}.crt.pem`, `certs/smtp-client/${BACKUP}.crt.pem`,
      'etc/postfix/relay_clientcerts', `out/${RELAY}/apply.sh`, `out/${CLIENT}/apply.sh`,
    ]) {
      expect(fs.existsSync(p.file(f)), f).to.equal(true);
    }
    expect(r.commands.filter((c) => c.includes('openssl ca '))).to.have.length(3);
  });

  it('makes an encrypted CA key (AES-256) and unencrypted 0600 leaf keys', function () {
    const caKey = fs.readFileSync(p.file('certs/ca/example.test-ca.key.pem'), 'utf8');
    expect(caKey).to.include('BEGIN ENCRYPTED PRIVATE KEY');
    const params = openssl(['asn1parse', '-in', 'certs/ca/example.test-ca.key.pem'], p.dir);
    expect(params).to.match(/aes-256-cbc/);
    expect(fs.statSync(p.file('certs/ca/example.test-ca.key.pem')).mode & 0o777).to.equal(0o600);
    expect(fs.statSync(p.file('certs/ca')).mode & 0o777).to.equal(0o700);
    for (const h of [`smtpd-server/${RELAY}`, `smtp-client/${CLIENT}`, `smtp-client/${BACKUP}`]) {
      const key = p.file(`certs/${h}.key.pem`);
      expect(fs.readFileSync(key, 'utf8')).to.include('BEGIN PRIVATE KEY');
      expect(fs.statSync(key).mode & 0o777, key).to.equal(0o600);
    }
  });

  it('issues a v3 CA certificate: CA:TRUE critical, pathlen:0, keyCertSign and cRLSign, key identifiers', function () {
    const text = openssl(['x509', '-in', 'certs/ca/example.test-ca.crt.pem', '-noout', '-text'], p.dir);
    expect(text).to.match(/Version: 3 \(0x2\)/);
    expect(text).to.match(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).to.match(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).to.match(/X509v3 Subject Key Identifier/);
    expect(text).to.match(/X509v3 Authority Key Identifier/);
    // RFC 2253 form: openssl's default name format changed in 3.2 (Debian 13 prints C=NL, O=… without escapes).
    expect(subject('certs/ca/example.test-ca.crt.pem', p.dir)).to.equal('CN=example.test relay CA,OU=Mail & Relays \\"Ops\\",O=Example Inc.,C=NL');
  });

  it('issues v3 leaves with SAN DNS:<fqdn> and the right EKU, each verifying for its purpose only', function () {
    const cases: [string, string, 'sslserver' | 'sslclient', string][] = [
      [`smtpd-server/${RELAY}`, RELAY, 'sslserver', 'TLS Web Server Authentication'],
      [`smtp-client/${CLIENT}`, CLIENT, 'sslclient', 'TLS Web Client Authentication'],
      [`smtp-client/${BACKUP}`, BACKUP, 'sslclient', 'TLS Web Client Authentication'],
    ];
    for (const [file, fqdn, purpose, eku] of cases) {
      const cert = `certs/${file}.crt.pem`;
      const text = openssl(['x509', '-in', cert, '-noout', '-text'], p.dir);
      expect(text).to.match(/Version: 3 \(0x2\)/);
      expect(text).to.match(new RegExp(`X509v3 Subject Alternative Name: \\s+DNS:${fqdn.replace(/\./g, '\\.')}\\n`));
      expect(text).to.match(new RegExp(`X509v3 Extended Key Usage: \\s+${eku}\\n`));
      expect(text).to.match(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(subject(cert, p.dir)).to.equal(`CN=${fqdn},OU=Mail & Relays \\"Ops\\",O=Example Inc.,C=NL`);
      expect(openssl(['verify', '-x509_strict', '-CAfile', 'certs/ca/example.test-ca.crt.pem', '-purpose', purpose, cert], p.dir)).to.include(': OK');
      const other = purpose === 'sslserver' ? 'sslclient' : 'sslserver';
      const wrong = spawnSync('openssl', ['verify', '-CAfile', 'certs/ca/example.test-ca.crt.pem', '-purpose', other, cert], { cwd: p.dir, encoding: 'utf8' });
      expect(wrong.status, `${cert} must not verify as ${other}`).to.not.equal(0);
    }
  });

  it('signs every leaf through the CA database with random serials', function () {
    const index = fs.readFileSync(p.file('certs/ca/db/index.txt'), 'utf8').trim().split('\n');
    expect(index).to.have.length(3);
    const serials = index.map((l) => l.split('\t')[3]!);
    expect(new Set(serials).size).to.equal(3);
    for (const s of serials) expect(s.length, s).to.be.at.least(30); // 159-bit random, not 01, 02
  });

  it('lists each client with its sha256 public-key fingerprint, equal to the one openssl computes', function () {
    const lines = fs.readFileSync(p.file('etc/postfix/relay_clientcerts'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).to.have.length(2);
    for (const fqdn of [CLIENT, BACKUP]) {
      const pub = execFileSync('sh', ['-c', `openssl x509 -in certs/smtp-client/${fqdn}.crt.pem -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -c`], { cwd: p.dir, encoding: 'utf8' });
      const expected = pub.trim().replace(/^.*= /, '').toUpperCase();
      expect(expected).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(lines).to.include(`${expected} ${fqdn}`);
    }
    expect(lines.join('\n')).to.not.include(RELAY);
  });

  it('puts exactly the host\'s files in each bundle, never the CA key', function () {
    const files = (fqdn: string) =>
      fs.readdirSync(p.file(`out/${fqdn}/root`), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(p.file(`out/${fqdn}/root`), path.join(e.parentPath ?? e.path, e.name))).sort();
    expect(files(RELAY)).to.deep.equal([
      'etc/postfix-tls-based-relaying/apply-smtpd-server.sh',
      'etc/postfix-tls-based-relaying/ca/example.test-ca.crt.pem',
      `etc/postfix-tls-based-relaying/smtpd-server/${RELAY}.crt.pem`,
      `etc/postfix-tls-based-relaying/smtpd-server/${RELAY}.key.pem`,
      'etc/postfix/relay_clientcerts',
    ]);
    expect(files(CLIENT)).to.deep.equal([
      'etc/postfix-tls-based-relaying/apply-smtp-client.sh',
      'etc/postfix-tls-based-relaying/ca/example.test-ca.crt.pem',
      `etc/postfix-tls-based-relaying/smtp-client/${CLIENT}.crt.pem`,
      `etc/postfix-tls-based-relaying/smtp-client/${CLIENT}.key.pem`,
    ]);
    const relayKey = fs.readFileSync(p.file(`out/${RELAY}/root/etc/postfix-tls-based-relaying/smtpd-server/${RELAY}.key.pem`));
    expect(relayKey.equals(fs.readFileSync(p.file(`certs/smtpd-server/${RELAY}.key.pem`)))).to.equal(true);
    const apply = fs.readFileSync(p.file(`out/${CLIENT}/apply.sh`), 'utf8');
    expect(apply).to.include(`'relayhost = [${RELAY}]:2500'`);
    expect(apply).to.not.include('smtp_enforce_tls =');
  });

  it('runs no command on a second build', function () {
    const before = audit(p).length;
    const r = buildJson(p);
    expect(r.commands).to.deep.equal([]);
    expect(r.gpgDecryptions).to.equal(0);
    expect(r.steps.every((s) => s.state === 'skipped'), JSON.stringify(r.steps.filter((s) => s.state !== 'skipped'))).to.equal(true);
    expect(audit(p).length).to.equal(before);
  });

  it('reruns exactly the dependents of a touched input', function () {
    const at = new Date(Date.now() - 600_000);
    for (const d of ['certs', 'etc', 'out']) ageTree(path.join(p.dir, d), at);
    const caKeyBefore = fs.readFileSync(p.file('certs/ca/example.test-ca.key.pem'));
    fs.utimesSync(p.file(`certs/smtp-client/${BACKUP}.csr.pem`), new Date(), new Date());
    const r = buildJson(p);
    expect(r.commands, r.commands.join('\n')).to.have.length(1);
    expect(r.commands[0]).to.include(`openssl ca -batch -notext -config certs/ca/openssl-ca.cnf -extfile certs/smtp-client/${BACKUP}.cnf`);
    const ran = r.steps.filter((s) => s.state !== 'skipped').map((s) => s.id);
    // The certificate, then what is made from it: the allowlist (same public key: content unchanged)
    // and the bundle copy.
    expect(ran).to.include(`cert:${BACKUP}`);
    expect(ran).to.include(`bundle-cert:${BACKUP}`);
    expect(ran.every((id) => id.includes(BACKUP) || id === 'allowlist' || id === `bundle-allowlist:${RELAY}`), ran.join(',')).to.equal(true);
    expect(fs.readFileSync(p.file('certs/ca/example.test-ca.key.pem')).equals(caKeyBefore)).to.equal(true);
  });

  it('editing the subject re-renders only the affected configs and re-issues what depends on them; the CA key stays', function () {
    const caKeyBefore = fs.readFileSync(p.file('certs/ca/example.test-ca.key.pem'));
    const leafKeyBefore = fs.readFileSync(p.file(`certs/smtp-client/${CLIENT}.key.pem`));
    const serialBefore = new X509Certificate(fs.readFileSync(p.file(`certs/smtp-client/${CLIENT}.crt.pem`))).serialNumber;
    const r = buildJson(p, ['--set', 'cert_req_ou=Postmasters']);
    expect(r.commands.some((c) => c.includes('genpkey'))).to.equal(false);
    expect(r.commands.some((c) => c.includes('-x509'))).to.equal(true); // the CA certificate carries the subject too
    expect(r.commands.filter((c) => c.includes('openssl ca '))).to.have.length(3);
    expect(r.gpgDecryptions).to.equal(1);
    expect(fs.readFileSync(p.file('certs/ca/example.test-ca.key.pem')).equals(caKeyBefore)).to.equal(true);
    expect(fs.readFileSync(p.file(`certs/smtp-client/${CLIENT}.key.pem`)).equals(leafKeyBefore)).to.equal(true);
    const cert = new X509Certificate(fs.readFileSync(p.file(`certs/smtp-client/${CLIENT}.crt.pem`)));
    expect(cert.subject).to.include('OU=Postmasters');
    expect(cert.serialNumber).to.not.equal(serialBefore);
    expect(fs.readFileSync(p.file('certs/ca/openssl-ca.cnf'), 'utf8')).to.not.include('Postmasters'); // not affected
    // Same keys: the allowlist still lists the same public-key fingerprints.
    expect(buildJson(p, ['--set', 'cert_req_ou=Postmasters']).commands).to.deep.equal([]);
  });

  it('status --json reports the CA and every host with notAfter and fingerprint', function () {
    const r = p.cli(['status', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const st = JSON.parse(r.stdout) as {
      ca: { cert: string; key: string; notAfter: string };
      hosts: { role: string; fqdn: string; cert: string; key: string; notAfter: string; serial: string; listed: boolean; revoked: boolean; fingerprint: { digest: string; kind: string; value: string } }[];
    };
    expect(st.ca).to.include({ cert: 'certs/ca/example.test-ca.crt.pem', key: 'certs/ca/example.test-ca.key.pem' });
    expect(new Date(st.ca.notAfter).getTime()).to.be.greaterThan(Date.now() + 3000 * 86400_000);
    expect(st.hosts.map((h) => [h.role, h.fqdn])).to.deep.equal([['server', RELAY], ['client', CLIENT], ['client', BACKUP]]);
    const list = fs.readFileSync(p.file('etc/postfix/relay_clientcerts'), 'utf8');
    for (const h of st.hosts) {
      expect(h.cert).to.equal(`certs/${h.role === 'server' ? 'smtpd-server' : 'smtp-client'}/${h.fqdn}.crt.pem`);
      expect(h.fingerprint).to.include({ digest: 'sha256', kind: 'pubkey' });
      const x = new X509Certificate(fs.readFileSync(p.file(h.cert)));
      expect(h.notAfter).to.equal(new Date(x.validTo).toISOString());
      expect(h.serial).to.equal(x.serialNumber.toUpperCase());
      expect(h.listed).to.equal(h.role === 'client');
      expect(h.listed).to.equal(list.includes(h.fingerprint.value));
      expect(h.revoked).to.equal(false);
    }
    const table = p.cli(['status']);
    expect(table.stdout).to.match(/^HOST\s+ROLE\s+SERIAL\s+NOT AFTER\s+DAYS\s+FINGERPRINT\s+LISTED\s+REVOKED/);
  });

  it('records every executed command with its start, duration and exit status, never the passphrase', function () {
    const entries = audit(p);
    expect(entries.length).to.be.at.least(10);
    for (const e of entries) {
      expect(e.command).to.be.a('string').and.match(/^(gpg --batch --decrypt \S+ \| )?openssl /);
      expect(new Date(e.start).toString()).to.not.equal('Invalid Date');
      expect(e.durationMs).to.be.a('number');
      expect(e.exit).to.equal(0);
    }
    expect(entries.filter((e) => e.command.includes('-passin stdin') || e.command.includes('-pass stdin')).every((e) => e.command.startsWith('gpg --batch --decrypt '))).to.equal(true);
    const log = fs.readFileSync(p.file('audit.log'), 'utf8');
    expect(log).to.not.include(PASSPHRASE);
    for (const f of fs.readdirSync(p.dir, { recursive: true }) as string[]) {
      const full = p.file(f);
      if (fs.statSync(full).isFile() && !f.endsWith('.gpg')) expect(fs.readFileSync(full, 'utf8'), f).to.not.include(PASSPHRASE);
    }
  });

  it('fails with exit 1, the command and openssl\'s own error, keeping earlier files', function () {
    const q = createProject({ gpg, settings: (pass) => settingsText(pass) });
    try {
      // Damage the CSR step's input after a good build: the CA and keys must survive the failure. A new
      // client's key (a recorded key that is no key any more is refused before openssl runs).
      expect(q.cli(['build', '-q']).code).to.equal(0);
      const caCert = fs.readFileSync(q.file('certs/ca/example.test-ca.crt.pem'));
      const broken = 'broken.example.test';
      fs.appendFileSync(q.file('settings.mk'), 'smtp_client_hostnames := broken\n');
      fs.writeFileSync(q.file(`certs/smtp-client/${broken}.key.pem`), 'not a key\n', { mode: 0o600 });
      const r = q.cli(['build']);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include(`openssl req -new -config certs/smtp-client/${broken}.cnf`);
      expect(r.stderr).to.match(/Could not (read|find) private key|unable to load|No supported data/i);
      expect(fs.readFileSync(q.file('certs/ca/example.test-ca.crt.pem')).equals(caCert)).to.equal(true);
      expect(fs.existsSync(q.file(`certs/smtp-client/.${broken}.csr.pem.tmp`))).to.equal(false);
      const last = audit(q).pop()!;
      expect(last.exit).to.not.equal(0);
    } finally {
      q.dispose();
    }
  });

  it('plan --format sh, run by sh in a fresh directory, yields a tree that verifies', function () {
    const fresh = createProject({ gpg, settings: (pass) => settingsText(pass, 'smtp_client_hostnames := backup') });
    const replay = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-replay-'));
    try {
      const plan = fresh.cli(['plan', '--format', 'sh']);
      expect(plan.code, plan.stderr).to.equal(0);
      expect(plan.stdout).to.match(/^#!\/bin\/sh\n/);
      expect(plan.stdout).to.not.include(PASSPHRASE);
      fs.writeFileSync(path.join(replay, 'build.sh'), plan.stdout);
      const r = spawnSync('sh', ['build.sh'], { cwd: replay, env: fresh.env, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      const ca = 'certs/ca/example.test-ca.crt.pem';
      expect(openssl(['verify', '-CAfile', ca, '-purpose', 'sslserver', `certs/smtpd-server/${RELAY}.crt.pem`], replay)).to.include(': OK');
      for (const c of [CLIENT, BACKUP]) {
        expect(openssl(['verify', '-CAfile', ca, '-purpose', 'sslclient', `certs/smtp-client/${c}.crt.pem`], replay)).to.include(': OK');
      }
      // The script's allowlist lists the same fingerprints the tool computes for those certificates.
      const list = fs.readFileSync(path.join(replay, 'etc/postfix/relay_clientcerts'), 'utf8');
      // The tool then finds the replayed tree up to date: no command to run, same allowlist.
      const toolBuilt = spawnSync(process.execPath, [CLI, 'build', '--json', '-C', replay, '-f', fresh.file('settings.mk')], { env: fresh.env, encoding: 'utf8' });
      expect(toolBuilt.status, toolBuilt.stderr).to.equal(0);
      expect((JSON.parse(toolBuilt.stdout) as { commands: string[] }).commands).to.deep.equal([]);
      expect(fs.readFileSync(path.join(replay, 'etc/postfix/relay_clientcerts'), 'utf8')).to.equal(list);
      expect(fs.statSync(path.join(replay, `certs/smtp-client/${CLIENT}.key.pem`)).mode & 0o777).to.equal(0o600);
    } finally {
      fresh.dispose();
      fs.rmSync(replay, { recursive: true, force: true });
    }
  });

  it('clean moves generated files to a timestamped archive and keeps the CA key there', function () {
    const q = createProject({ gpg, settings: (pass) => settingsText(pass) });
    try {
      expect(q.cli(['build', '-q']).code).to.equal(0);
      const caKey = fs.readFileSync(q.file('certs/ca/example.test-ca.key.pem'));
      const r = q.cli(['clean', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout) as { archive: string; moved: string[]; caKey: string };
      expect(out.moved).to.include.members(['certs', 'etc', 'out']);
      expect(fs.existsSync(q.file('certs'))).to.equal(false);
      expect(fs.readFileSync(q.file(out.caKey)).equals(caKey)).to.equal(true);
      expect(fs.existsSync(q.file('settings.mk'))).to.equal(true);
      expect(fs.existsSync(q.file('audit.log'))).to.equal(true);
    } finally {
      q.dispose();
    }
  });
});
