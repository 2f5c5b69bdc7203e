// `init` with the real gpg: flags for scripts, questions on a real terminal, refusals to overwrite,
// and a passphrase that exists in plain text only in memory.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runInTty } from '../support/cli.js';
import { createTestGpg, TEST_RECIPIENT, type TestGpg } from '../support/gpg.js';

const FLAGS = ['--domain', 'example.org', '--relay', 'relayhost', '--client', 'mailhost', '--client', 'backup-mailhost', '--gpg-recipient', TEST_RECIPIENT];

/** Every file under dir (recursively), as bytes. */
function allFiles(dir: string): Buffer[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => fs.readFileSync(path.join(e.parentPath, e.name)));
}

describe('init (real gpg)', function () {
  let gpg: TestGpg;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const init = (args: string[], cwd = dir) => runCli(['init', ...args], { cwd, env });
  const decrypt = (file: string) => execFileSync('gpg', ['--batch', '--quiet', '--decrypt', file], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  before(function () {
    gpg = createTestGpg();
    env = { ...process.env, GNUPGHOME: gpg.home, NO_COLOR: '1' };
  });
  after(() => gpg.dispose());
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-init-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('with flags: writes settings.mk for a new setup and a 0600 gpg-encrypted random passphrase; build then works', function () {
    const r = init([...FLAGS, '--port', '2525']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/^\+ gpg --batch --yes --trust-model always --encrypt --recipient t@example\.invalid --output \.ca-passphrase\.gpg\.tmp /m);
    const settings = fs.readFileSync(path.join(dir, 'settings.mk'), 'utf8');
    for (const line of ['domain                  := example.org', 'smtpd_server_hostname   := relayhost', 'smtpd_server_port       := 2525',
      'smtp_client_hostname    := mailhost', 'smtp_client_hostnames   := backup-mailhost', 'certs_passphrase_file   := ca-passphrase.gpg',
      'key_algorithm           := ec', 'fingerprint_kind        := pubkey', 'signature_hash          := sha256', 'ca_key_cipher           := aes256']) {
      expect(settings.split('\n')).to.include(line);
    }
    const pass = path.join(dir, 'ca-passphrase.gpg');
    expect(fs.statSync(pass).mode & 0o777).to.equal(0o600);
    const secret = decrypt(pass);
    expect(secret).to.match(/^[A-Za-z0-9_-]{43}\n$/);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['ca-passphrase.gpg', 'settings.mk']); // no temp file left

    const b = runCli(['build', '-q'], { cwd: dir, env });
    expect(b.code, b.stderr).to.equal(0);
    const caKey = fs.readFileSync(path.join(dir, 'certs/ca/example.org-ca.key.pem'), 'utf8');
    expect(caKey).to.match(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(execFileSync('openssl', ['asn1parse', '-in', path.join(dir, 'certs/ca/example.org-ca.key.pem')], { encoding: 'utf8' })).to.include('aes-256-cbc');
    const ec = execFileSync('openssl', ['pkey', '-in', path.join(dir, 'certs/ca/example.org-ca.key.pem'), '-passin', 'stdin', '-noout', '-text'], { input: secret, encoding: 'utf8' });
    expect(ec).to.include('prime256v1');
    const list = fs.readFileSync(path.join(dir, 'etc/postfix/relay_clientcerts'), 'utf8');
    expect(list).to.include('public-key fingerprint (sha256)');
    expect(list).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2} backup-mailhost\.example\.org$/m);

    // The plain passphrase is in no file of the project and in no output.
    const needle = Buffer.from(secret.trim());
    for (const f of allFiles(dir)) expect(f.includes(needle)).to.equal(false);
    expect(r.stdout + r.stderr + b.stdout + b.stderr).to.not.include(secret.trim());
  });

  it('refuses to replace settings.mk or the passphrase file without --force (exit 2, one line naming the file)', function () {
    expect(init(FLAGS).code).to.equal(0);
    const passBefore = fs.readFileSync(path.join(dir, 'ca-passphrase.gpg'));
    const again = init(FLAGS);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.equal('postfix-tls-relay: settings.mk: already exists; pass --force to replace it, or -f FILE to write another file\n');

    fs.rmSync(path.join(dir, 'settings.mk'));
    const pass = init(FLAGS);
    expect(pass.code).to.equal(2);
    expect(pass.stderr).to.match(/^postfix-tls-relay: ca-passphrase\.gpg: already exists; pass --keep-passphrase to use it as it is, or --force to replace it\n$/);
    expect(fs.existsSync(path.join(dir, 'settings.mk'))).to.equal(false);
    expect(fs.readFileSync(path.join(dir, 'ca-passphrase.gpg')).equals(passBefore)).to.equal(true);

    // --force: a new passphrase, as long as no CA key depends on the old one.
    const forced = init([...FLAGS, '--force']);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(fs.readFileSync(path.join(dir, 'ca-passphrase.gpg')).equals(passBefore)).to.equal(false);
  });

  it('never replaces the passphrase a CA key is encrypted with; --keep-passphrase rewrites settings.mk only', function () {
    expect(init(FLAGS).code).to.equal(0);
    expect(runCli(['build', '-q'], { cwd: dir, env }).code).to.equal(0);
    const passBefore = fs.readFileSync(path.join(dir, 'ca-passphrase.gpg'));
    const forced = init([...FLAGS, '--force']);
    expect(forced.code).to.equal(2);
    expect(forced.stderr).to.match(/ca-passphrase\.gpg: certs\/ca\/example\.org-ca\.key\.pem is encrypted with the passphrase in it, so it is never replaced; pass --keep-passphrase\n$/);
    const kept = init([...FLAGS, '--force', '--keep-passphrase', '--port', '2600']);
    expect(kept.code, kept.stderr).to.equal(0);
    expect(fs.readFileSync(path.join(dir, 'ca-passphrase.gpg')).equals(passBefore)).to.equal(true);
    expect(fs.readFileSync(path.join(dir, 'settings.mk'), 'utf8')).to.include('smtpd_server_port       := 2600');
    const b = runCli(['build', '-q'], { cwd: dir, env });
    expect(b.code, b.stderr).to.equal(0);
  });

  it('not on a terminal and without --yes: a missing flag is exit 2 naming it; --yes takes the defaults', function () {
    const cases: [string[], string][] = [
      [[], '--domain'],
      [['--domain', 'example.org'], '--relay'],
      [['--domain', 'example.org', '--relay', 'relayhost'], '--client'],
    ];
    for (const [args, flag] of cases) {
      const r = init(args);
      expect(r.code, flag).to.equal(2);
      expect(r.stderr).to.equal(`postfix-tls-relay: ${flag} is required (not a terminal, so init cannot ask); see postfix-tls-relay init --help\n`);
    }
    expect(fs.readdirSync(dir)).to.deep.equal([]);
    // The only secret key is the default recipient, 2500 the default port.
    const r = init(['--domain', 'example.org', '--relay', 'relayhost', '--client', 'mailhost', '--yes', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { recipient: string; relay: string; clients: string[]; passphrase: string };
    expect(out.recipient).to.match(/^[0-9A-F]{40}$/);
    expect(out).to.include({ relay: 'relayhost.example.org', passphrase: 'new' });
    expect(out.clients).to.deep.equal(['mailhost.example.org']);
    expect(fs.readFileSync(path.join(dir, 'settings.mk'), 'utf8')).to.include('smtpd_server_port       := 2500');
  });

  it('bad values are exit 2 with one line naming the flag; nothing is written', function () {
    const cases: [string[], RegExp][] = [
      [['--domain', 'bad domain'], /^postfix-tls-relay: --domain "bad domain" is not a host name/],
      [['--port', '70000'], /^postfix-tls-relay: --port 70000 is out of range; use a port number from 1 to 65535\n$/],
      [['--client', 'relayhost.example.org'], /^postfix-tls-relay: --client names relayhost\.example\.org twice/],
      [['--gpg-recipient', 'nobody@example.invalid'], /^postfix-tls-relay: --gpg-recipient "nobody@example\.invalid": gpg has no public key for it/],
    ];
    for (const [bad, re] of cases) {
      const args = [...FLAGS];
      for (let i = 0; i < bad.length; i += 2) {
        const at = args.indexOf(bad[i]!);
        if (at >= 0) args.splice(at, 2, bad[i]!, bad[i + 1]!);
        else args.push(bad[i]!, bad[i + 1]!);
      }
      const r = init(args);
      expect(r.code, bad.join(' ')).to.equal(2);
      expect(r.stderr).to.match(re);
      expect(r.stderr.trimEnd().split('\n')).to.have.length(1);
      expect(fs.readdirSync(dir)).to.deep.equal([]);
    }
  });

  it('--dry-run shows the settings and the gpg command and writes nothing', function () {
    const r = init([...FLAGS, '-n']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('key_algorithm           := ec');
    expect(r.stderr).to.include('gpg --batch --yes --trust-model always --encrypt --recipient t@example.invalid');
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it('on a terminal: asks, re-asks after a bad answer, confirms, then writes', function () {
    const r = runInTty(['init', '-C', 'proj'], { cwd: dir, env, input: 'example.org\nbad_name\nrelayhost\n\nmailhost backup\n\ny\n' });
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.include('Mail domain (e.g. example.org): ');
    expect(r.output).to.include('"bad_name" is not a host name');
    expect(r.output).to.include('Relay port (a spare port for the relay service) [2500]: ');
    expect(r.output).to.match(/GnuPG key to encrypt the CA passphrase to \(fingerprint or e-mail\) \[[0-9A-F]{40}\]: /);
    expect(r.output).to.include('Write these files? [Y/n]: ');
    const settings = fs.readFileSync(path.join(dir, 'proj', 'settings.mk'), 'utf8');
    expect(settings).to.include('smtpd_server_hostname   := relayhost');
    expect(settings).to.include('smtp_client_hostnames   := backup');
    expect(fs.statSync(path.join(dir, 'proj')).mode & 0o777).to.equal(0o700);
    expect(decrypt(path.join(dir, 'proj', 'ca-passphrase.gpg'))).to.match(/^[A-Za-z0-9_-]{43}\n$/);
  });

  it('on a terminal: end of input cancels (exit 2), answering n writes nothing (exit 1)', function () {
    const eof = runInTty(['init'], { cwd: dir, env, input: 'example.org\n' });
    expect(eof.code, eof.output).to.equal(2);
    expect(eof.output).to.include('init: cancelled (end of input); nothing was written');
    const no = runInTty(['init', ...FLAGS, '--port', '2500'], { cwd: dir, env, input: 'n\n' });
    expect(no.code, no.output).to.equal(1);
    expect(no.output).to.include('nothing was written');
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });
});
