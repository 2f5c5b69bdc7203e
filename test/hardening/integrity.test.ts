// Integrity (issue 14): status --check sees every state build or deploy would refuse or change; init,
// clean and add-client keep what the CA depends on; the lock, the passphrase limits, symlinks and the
// environment behave as documented. Real openssl, gpg and make on throwaway projects.
import { expect } from 'chai';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allowlistEntries, pubkeyFingerprint } from '../support/certs.js';
import { requirePrerequisites } from '../support/lab.js';
import { canMount } from '../support/prereq.js';
import { startCli } from '../support/proc.js';
import { settingsText, useProject, type TestProject } from '../support/project.js';

const CLIENT_KEY = 'certs/smtp-client/mailhost.example.test.key.pem';
const CLIENT_CERT = 'certs/smtp-client/mailhost.example.test.crt.pem';
const RELAY_KEY = 'certs/smtpd-server/relayhost.example.test.key.pem';
const CA_KEY = 'certs/ca/example.test-ca.key.pem';
const ALLOW = 'etc/postfix/relay_clientcerts';
const LOCK = '.postfix-tls-relay/lock';

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('postfix-tls-relay: ')).map((l) => l.slice('postfix-tls-relay: '.length));

describe('integrity: status --check fails on every state build or deploy would refuse or change', function () {
  this.timeout(300_000);
  const fx = useProject();
  beforeEach(() => {
    const p = fx.p;
    const r = p.cli(['build', '-q']);
    expect(r.code, r.stderr).to.equal(0);
    const ok = p.cli(['status', '--check', '-q']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stderr).to.equal('');
  });

  const cases: { name: string; change: (p: TestProject) => void; line: RegExp }[] = [
    { name: 'the CA key is missing', change: (q) => rmSync(q.file(CA_KEY)), line: /^certs\/ca\/example\.test-ca\.key\.pem is missing but certs\/ca\/example\.test-ca\.crt\.pem exists; .*restore the key from your backup/ },
    { name: 'index.txt is missing', change: (q) => rmSync(q.file('certs/ca/db/index.txt')), line: /^CA database certs\/ca\/db\/index\.txt is missing; build would start an empty one .*: restore it from your backup$/ },
    { name: 'a host key is missing', change: (q) => rmSync(q.file(CLIENT_KEY)), line: /^mailhost\.example\.test: key certs\/smtp-client\/mailhost\.example\.test\.key\.pem is missing; build would make a new key and certificate/ },
    { name: 'out/ is missing', change: (q) => rmSync(q.file('out'), { recursive: true }), line: /^out\/relayhost\.example\.test\/: \d+ file\(s\) missing or out of date \(.*\); build would change the bundle \(run postfix-tls-relay build, then deploy\)$/ },
    { name: 'the passphrase file is missing', change: (q) => rmSync(q.passphraseFile), line: /^certs_passphrase_file: \/\S+ca-passphrase\.gpg cannot be read \(ENOENT\), so build cannot sign; restore it from your backup$/ },
    { name: 'a host key is garbage', change: (q) => writeFileSync(q.file(CLIENT_KEY), 'garbage\n'), line: /^mailhost\.example\.test: key certs\/smtp-client\/mailhost\.example\.test\.key\.pem is not a readable private key/ },
    {
      name: 'a host key belongs to another host (older than the certificate, as a restore leaves it)',
      change: (q) => {
        writeFileSync(q.file(CLIENT_KEY), readFileSync(q.file(RELAY_KEY)));
        execFileSync('touch', ['-d', '2020-01-01', q.file(CLIENT_KEY)]);
      },
      line: /^certs\/smtp-client\/mailhost\.example\.test\.key\.pem does not match certs\/smtp-client\/mailhost\.example\.test\.crt\.pem/,
    },
    {
      name: 'a host key belongs to another host (newer than the certificate)',
      change: (q) => writeFileSync(q.file(CLIENT_KEY), readFileSync(q.file(RELAY_KEY))),
      // Named by the key binding (issue 24): which host the key belongs to.
      line: /^mailhost\.example\.test: certs\/smtp-client\/mailhost\.example\.test\.key\.pem holds the key of relayhost\.example\.test \([0-9A-F:…]+\); a key belongs to one host only/,
    },
    { name: 'a key is 0644', change: (q) => chmodSync(q.file(CLIENT_KEY), 0o644), line: /^certs\/smtp-client\/mailhost\.example\.test\.key\.pem: a private key with mode 0644; chmod 600 / },
    { name: 'a bundle key is 0640', change: (q) => chmodSync(q.file('out/mailhost.example.test/root/etc/postfix-tls-based-relaying/smtp-client/mailhost.example.test.key.pem'), 0o640), line: /^out\/mailhost\.example\.test\/root\/\S+\.key\.pem: a private key with mode 0640/ },
    {
      name: 'the passphrase file is not encrypted to a key',
      change: (q) => {
        rmSync(q.passphraseFile);
        execFileSync('gpg', ['--batch', '--store', '--output', q.passphraseFile], { env: q.env, input: 'correct horse battery staple 4711\n' });
      },
      line: /^certs_passphrase_file: \S+ is not encrypted to a key \(plain\), so build refuses it/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 1, one line naming it`, () => {
      const p = fx.p;
      c.change(p);
      const r = p.cli(['status', '--check', '-q']);
      expect(r.code, r.stderr).to.equal(1);
      expect(errorLines(r.stderr).some((l) => c.line.test(l)), r.stderr).to.equal(true);
    });
  }

  it('build sets a key found at 0644 back to 0600 and says so; status --check is then clean', () => {
    const p = fx.p;
    chmodSync(p.file(CLIENT_KEY), 0o644);
    const r = p.cli(['build']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/certs\/smtp-client\/mailhost\.example\.test\.key\.pem: a private key with mode 0644; set back to 0600/);
    expect(statSync(p.file(CLIENT_KEY)).mode & 0o777).to.equal(0o600);
    expect(p.cli(['status', '--check', '-q']).code).to.equal(0);
  });

  it('--warn-days and --crl-warn-days that are not whole numbers: exit 2 naming the option', () => {
    const p = fx.p;
    for (const opt of ['--warn-days', '--crl-warn-days']) {
      const r = p.cli(['status', '--check', opt, 'abc']);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim()).to.equal(`postfix-tls-relay: ${opt} "abc": expected a whole number of days, 0 or more, e.g. ${opt} 30`);
    }
  });
});

describe('integrity: the CA and what it depends on', function () {
  this.timeout(300_000);
  const fx = useProject();

  it('renew --within abc: exit 2 naming the option, nothing renewed', () => {
    const p = fx.p;
    expect(p.cli(['build', '-q']).code).to.equal(0);
    const r = p.cli(['renew', '--within', 'abc']);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.equal('postfix-tls-relay: --within "abc": expected a whole number of days, 0 or more, e.g. --within 30');
  });

  it('init --force keeps a passphrase file that opens the CA key clean archived, naming the way out; a new file elsewhere is fine', () => {
    const p = fx.p;
    expect(p.cli(['build', '-q']).code).to.equal(0);
    expect(p.cli(['clean', '-q']).code).to.equal(0);
    const before = readFileSync(p.passphraseFile);
    const init = ['init', '--domain', 'example.test', '--relay', 'relayhost', '--client', 'mailhost', '--gpg-recipient', 't@example.invalid', '-y', '--force'];
    const r = p.cli([...init, '--passphrase-file', p.passphraseFile]);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr.trim()).to.match(/^postfix-tls-relay: ca-passphrase\.gpg: it opens the CA key kept in archive\/clean-[^/]+\/certs\/ca\/example\.test-ca\.key\.pem, which would be lost; pass --keep-passphrase, or --passphrase-file NEW for a new CA \(or move archive\/clean-[^/ ]+ out of the project first\)$/);
    expect(readFileSync(p.passphraseFile).equals(before), 'the passphrase file is unchanged').to.equal(true);
    const elsewhere = p.cli([...init, '--passphrase-file', p.file('new-passphrase.gpg')]);
    expect(elsewhere.code, elsewhere.stderr).to.equal(0);
  });

  it('init takes the project lock: while a build holds it, init --force refuses and writes nothing', async () => {
    const p = fx.p;
    const first = startCli(['build', '-j', '1', '-C', p.dir], { env: p.env, cwd: p.dir });
    const deadline = Date.now() + 60_000;
    while (!existsSync(p.file(LOCK)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    process.kill(-first.pid, 'SIGSTOP');
    let r;
    try {
      r = p.cli(['init', '--domain', 'example.test', '--relay', 'relayhost', '--client', 'mailhost', '--gpg-recipient', 't@example.invalid', '-y', '--force', '--passphrase-file', p.file('other.gpg')]);
    } finally {
      process.kill(-first.pid, 'SIGCONT');
    }
    expect(r.code, r.stderr).to.equal(1);
    expect(errorLines(r.stderr)).to.deep.equal([`.postfix-tls-relay/lock: another postfix-tls-relay (pid ${first.pid}) is working in this project; wait for it to finish and run again (if no postfix-tls-relay is running in this project, remove ${p.file(LOCK)} and run again)`]);
    expect(existsSync(p.file('other.gpg'))).to.equal(false);
    expect((await first.done).code).to.equal(0);
  });

  it('clean archives rotations.json: after renew --rekey, clean and a new build, the allowlist holds no fingerprint of the old CA', () => {
    const p = fx.p;
    expect(p.cli(['build', '-q']).code).to.equal(0);
    const oldFp = pubkeyFingerprint(p.file(CLIENT_CERT));
    const rekey = p.cli(['renew', 'mailhost', '--rekey', '-q']);
    expect(rekey.code, rekey.stderr).to.equal(0);
    expect(allowlistEntries(p.file(ALLOW)).map(([fp]) => fp)).to.include(oldFp);
    const clean = p.cli(['clean', '--json']);
    expect(clean.code, clean.stderr).to.equal(0);
    expect((JSON.parse(clean.stdout) as { moved: string[] }).moved).to.include('.postfix-tls-relay/rotations.json');
    expect(existsSync(p.file('.postfix-tls-relay/rotations.json'))).to.equal(false);
    expect(p.cli(['build', '-q']).code).to.equal(0);
    const entries = allowlistEntries(p.file(ALLOW));
    expect(entries.map(([fp]) => fp)).to.deep.equal([pubkeyFingerprint(p.file(CLIENT_CERT))]);
  });

  it('a passphrase of 1023 bytes (openssl\'s limit) works for build and the next add-client alike', () => {
    const p = fx.p;
    p.gpg.encrypt(`${'p'.repeat(1023)}\n`, p.passphraseFile);
    expect(p.cli(['build', '-q']).code).to.equal(0);
    const r = p.cli(['add-client', 'second', '-q']);
    expect(r.code, r.stderr).to.equal(0);
  });

  it('a build that changes what the hosts receive says so and which deploy to run (cert_req_organization)', () => {
    const p = fx.p;
    expect(p.cli(['build', '-q']).code).to.equal(0);
    const json = p.cli(['build', '--set', 'smtp_client_tls_loglevel=2', '--json']);
    expect((JSON.parse(json.stdout) as { deploy: string[] }).deploy).to.deep.equal(['mailhost.example.test']);
    const none = p.cli(['build', '--set', 'smtp_client_tls_loglevel=2']);
    expect(none.stdout).to.equal('');
    const r = p.cli(['build', '--set', 'smtp_client_tls_loglevel=2', '--set', 'cert_req_organization=Other Inc.']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('the bundles of relayhost.example.test, mailhost.example.test changed; the hosts run the old files until deployed: postfix-tls-relay deploy');
    const relayOnly = p.cli(['build', '--set', 'smtp_client_tls_loglevel=2', '--set', 'cert_req_organization=Other Inc.', '--set', 'smtpd_server_port=2525']);
    expect(relayOnly.stdout.trim()).to.match(/^the bundles of relayhost\.example\.test, mailhost\.example\.test changed; .*: postfix-tls-relay deploy$/);
  });

  it('a lock held by a live unrelated pid: one line naming the lock file and how to remove it', async () => {
    const p = fx.p;
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      mkdirSync(p.file('.postfix-tls-relay'), { recursive: true });
      writeFileSync(p.file(LOCK), `${sleeper.pid}\n`);
      const r = p.cli(['build']);
      expect(r.code).to.equal(1);
      expect(r.stderr.trim()).to.equal(`postfix-tls-relay: .postfix-tls-relay/lock: the project lock names pid ${sleeper.pid}, which is not postfix-tls-relay (sleep 60; a pid reused after a crash?); if no postfix-tls-relay is running in this project, remove ${p.file(LOCK)} and run again`);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('a symlink planted at an output is refused, never written through', () => {
    const p = fx.p;
    const victim = path.join(mkdtempSync(path.join(os.tmpdir(), 'ptr-victim-')), 'victim');
    writeFileSync(victim, 'precious\n');
    try {
      mkdirSync(p.file('etc/postfix'), { recursive: true, mode: 0o755 });
      symlinkSync(victim, p.file(ALLOW));
      const r = p.cli(['build', '-q']);
      expect(r.code).to.equal(1);
      expect(r.stderr.trim()).to.equal(`postfix-tls-relay: ${ALLOW}: a symbolic link (to ${victim}), and postfix-tls-relay never reads, writes, moves or ships anything through one; put the file or directory itself there (or remove the link and run postfix-tls-relay build to make it again)`);
      expect(readFileSync(victim, 'utf8')).to.equal('precious\n');
      expect(statSync(victim).mode & 0o777).to.equal(0o644);
      rmSync(p.file(ALLOW));
      expect(p.cli(['build', '-q']).code).to.equal(0);
      expect(lstatSync(p.file(ALLOW)).isSymbolicLink()).to.equal(false);
    } finally {
      rmSync(path.dirname(victim), { recursive: true, force: true });
    }
  });
});

describe('integrity: environment variables follow make', function () {
  this.timeout(120_000);
  const fx = useProject();

  /** What GNU make itself makes of `days` for this settings.mk and environment. */
  function makeSays(env: NodeJS.ProcessEnv): string {
    const mk = `include ${fx.p.file('settings.mk')}\ndays ?= 365\nall:\n\t@printf '%s' '$(days)'\n`;
    return execFileSync('make', ['-s', '-f', '-'], { env, input: mk, encoding: 'utf8' });
  }

  it('a setting the file leaves unset comes from the environment (days=30), as make has it', () => {
    const p = fx.p;
    expect(makeSays({ ...p.env, days: '30' })).to.equal('30');
    const r = p.cli(['build', '-q'], { env: { ...p.env, days: '30' } });
    expect(r.code, r.stderr).to.equal(0);
    const cert = new X509Certificate(readFileSync(p.file(CLIENT_CERT)));
    expect(Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000)).to.equal(30);
  });

  it('an empty environment variable counts as set, as in make: exit 2 naming the environment', () => {
    const p = fx.p;
    expect(makeSays({ ...p.env, days: '' })).to.equal('');
    const r = p.cli(['build'], { env: { ...p.env, days: '' } });
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.equal('postfix-tls-relay: environment: days = "" is not a whole number; use a number of days from 1 to 36500');
  });

  it('an assignment in settings.mk wins over the environment, as in make', () => {
    const p = fx.p;
    writeFileSync(p.file('settings.mk'), settingsText(p.passphraseFile, 'days := 90'));
    expect(makeSays({ ...p.env, days: '30' })).to.equal('90');
    expect(p.cli(['build', '-q'], { env: { ...p.env, days: '30' } }).code).to.equal(0);
    const cert = new X509Certificate(readFileSync(p.file(CLIENT_CERT)));
    expect(Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000)).to.equal(90);
  });
});

describe('integrity: add-client', function () {
  this.timeout(600_000);
  const fx = useProject();
  beforeEach(() => {
    expect(fx.p.cli(['build', '-q']).code).to.equal(0);
  });

  const hostnames = () => /^smtp_client_hostnames := (.*)$/m.exec(readFileSync(fx.p.file('settings.mk'), 'utf8'))?.[1]?.split(/\s+/).sort() ?? [];

  it('eight in parallel: each waits its turn, all eight are in settings.mk, on the allowlist and built', async () => {
    const p = fx.p;
    const names = Array.from({ length: 8 }, (_, i) => `n${i}`);
    const runs = names.map((n) => startCli(['add-client', n, '-q', '-C', p.dir], { env: p.env, cwd: p.dir }));
    for (const r of runs) {
      const res = await r.done;
      expect(res.code, res.stderr).to.equal(0);
    }
    expect(hostnames()).to.deep.equal(names);
    const listed = allowlistEntries(p.file(ALLOW)).map(([, fqdn]) => fqdn).sort();
    expect(listed).to.deep.equal([...names.map((n) => `${n}.example.test`), 'mailhost.example.test'].sort());
    for (const n of names) expect(existsSync(p.file(`out/${n}.example.test/apply.sh`)), n).to.equal(true);
    expect(p.cli(['status', '--check', '-q']).code).to.equal(0);
  });

  it('a symlinked settings.mk: its target is edited, the link stays', () => {
    const p = fx.p;
    mkdirSync(p.file('conf'));
    renameSync(p.file('settings.mk'), p.file('conf/settings.mk'));
    symlinkSync('conf/settings.mk', p.file('settings.mk'));
    expect(p.cli(['add-client', 'linked', '-q']).code).to.equal(0);
    expect(lstatSync(p.file('settings.mk')).isSymbolicLink()).to.equal(true);
    expect(readFileSync(p.file('conf/settings.mk'), 'utf8')).to.match(/^smtp_client_hostnames := linked$/m);
  });

  it('a passphrase that does not open the CA key: exit 1, settings.mk unchanged, nothing of the client made', () => {
    const p = fx.p;
    const before = readFileSync(p.file('settings.mk'));
    p.gpg.encrypt('another passphrase entirely\n', p.passphraseFile);
    const r = p.cli(['add-client', 'refused']);
    expect(r.code).to.equal(1);
    expect(errorLines(r.stderr)).to.have.length(1);
    expect(errorLines(r.stderr)[0]).to.match(/does not open this key/);
    expect(readFileSync(p.file('settings.mk')).equals(before)).to.equal(true);
    expect(existsSync(p.file('certs/smtp-client/refused.example.test.key.pem'))).to.equal(false);
  });

  it('a build that fails after the edit puts settings.mk back as it was', () => {
    const p = fx.p;
    const before = readFileSync(p.file('settings.mk'));
    // The new client's key path is taken by a directory: its key step fails.
    mkdirSync(p.file('certs/smtp-client/blocked.example.test.key.pem'));
    const r = p.cli(['add-client', 'blocked']);
    expect(r.code).to.equal(1);
    expect(errorLines(r.stderr)).to.have.length(1);
    expect(readFileSync(p.file('settings.mk')).equals(before)).to.equal(true);
  });

  it('settings.mk on a read-only mount: one clean line naming it', function () {
    const p = fx.p;
    requirePrerequisites(this, canMount());
    const ro = mkdtempSync(path.join(os.tmpdir(), 'ptr-ro-'));
    try {
      writeFileSync(path.join(ro, 'settings.mk'), readFileSync(p.file('settings.mk')));
      execFileSync('mount', ['--bind', ro, ro]);
      execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
      try {
        rmSync(p.file('settings.mk'));
        symlinkSync(path.join(ro, 'settings.mk'), p.file('settings.mk'));
        const r = p.cli(['add-client', 'readonly']);
        expect(r.code).to.equal(1);
        expect(errorLines(r.stderr)).to.deep.equal(['settings.mk: cannot write (EROFS): the file system is read-only; run in a writable project directory']);
      } finally {
        spawnSync('umount', [ro]);
      }
    } finally {
      rmSync(ro, { recursive: true, force: true });
    }
  });

  it('the whole project read-only: one clean line, no raw EROFS', function () {
    const p = fx.p;
    requirePrerequisites(this, canMount());
    execFileSync('mount', ['--bind', p.dir, p.dir]);
    execFileSync('mount', ['-o', 'remount,bind,ro', p.dir]);
    try {
      const r = p.cli(['add-client', 'readonly']);
      expect(r.code).to.equal(1);
      expect(errorLines(r.stderr)).to.have.length(1);
      expect(errorLines(r.stderr)[0]).to.match(/\(EROFS\): the file system is read-only; run in a writable project directory$/);
    } finally {
      spawnSync('umount', [p.dir]);
    }
  });
});
