// One key, one host (issue 24), on real openssl: a key copied from another host, a key written over a
// host's key file, a revoked key brought back under another name and a relay's key used by a client are
// refused by every command that writes or ships, and reported by status --check, check and the
// monitoring outputs; the allowlist refuses a fingerprint twice or a revoked key at render time.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, copyProject, createProject, SEED_DIR, settingsText, type ProjectCopy, type TestProject } from '../support/project.js';
import { findCommand, requirePrerequisites } from '../support/lab.js';
import { pubkeyFingerprint } from '../support/certs.js';
import { snapshot } from '../support/tree.js';
import { parseExposition, valueOf } from '../support/prometheus.js';
import { loadSettings } from '../../lib/settings/index.js';
import { readProjectState } from '../../lib/state/project.js';
import { execute } from '../../lib/runner/execute.js';
import { Passphrase } from '../../lib/secrets/passphrase.js';
import type { WriteStep } from '../../lib/plan/step.js';

const key = (h: string) => `certs/smtp-client/${h}.example.test.key.pem`;
const cert = (h: string) => `certs/smtp-client/${h}.example.test.crt.pem`;
const RELAY_KEY = 'certs/smtpd-server/relayhost.example.test.key.pem';
const ALLOW = 'etc/postfix/relay_clientcerts';
const NO_SSH = ['--ssh-option', 'ProxyCommand=false']; // never a name lookup, never a connection
const onlyTrees = (rel: string) => rel === 'audit.log' || rel.startsWith('.postfix-tls-relay/') || rel.startsWith('ca-passphrase');

describe('hardening: one key, one host', function () {
  this.timeout(300_000);
  let base: TestProject;
  const copies: string[] = [];

  before(() => {
    base = createProject({ settings: (f) => settingsText(f, 'smtp_client_hostnames := desk1 desk2') });
    const r = base.cli(['build', '-q']);
    expect(r.code, r.stderr).to.equal(0);
  });
  after(() => {
    for (const d of copies) rmSync(d, { recursive: true, force: true });
    base.dispose();
  });

  /** A copy of the built project (the passphrase file stays with the original). */
  function fork(): ProjectCopy {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-keys-'));
    copies.push(dir);
    return copyProject(base, dir);
  }

  /** Every command that writes or ships refuses with `line` (exit 1, one line) and changes nothing. */
  function refusedEverywhere(p: ReturnType<typeof fork>, line: RegExp, host: string): void {
    const before = snapshot(p.dir, onlyTrees);
    const allowlist = readFileSync(p.f(ALLOW), 'utf8');
    for (const args of [['build'], ['renew', host], ['add-client', 'desk9'], ['deploy', ...NO_SSH], ['export', 'ansible', path.join(p.dir, 'ansible')]]) {
      const r = p.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, `${args.join(' ')}: ${r.stderr}`).to.have.length(1);
      expect(lines[0], args.join(' ')).to.match(line);
    }
    expect(snapshot(p.dir, onlyTrees), 'nothing written').to.deep.equal(before);
    expect(readFileSync(p.f(ALLOW), 'utf8')).to.equal(allowlist);
    expect(readFileSync(p.f('settings.mk'), 'utf8')).not.to.include('desk9');
    expect(existsSync(path.join(p.dir, 'ansible'))).to.equal(false);
    expect(readFileSync(p.f('audit.log'), 'utf8')).not.to.match(/"command":"(ssh|rsync) /);
    const dry = p.cli(['deploy', '-n', '--json']);
    expect(JSON.parse(dry.stdout).ready).to.equal(false);
    expect(dry.stderr.trim().replace(/^warning: /, '')).to.match(line);
  }

  /** status --check (text and --json), --nagios, prometheus and check show the problem with `line`. */
  function reported(p: ReturnType<typeof fork>, line: RegExp, kind: string, host: string): void {
    const st = p.cli(['status', '--check']);
    expect(st.code).to.equal(1);
    expect(st.stdout.split('\n').map((l) => l.trim())).to.satisfy((ls: string[]) => ls.some((l) => line.test(l)));
    const json = p.cli(['status', '--check', '--json']);
    const data = JSON.parse(json.stdout) as { keyProblems: { kind: string; fqdn: string; line: string }[]; problems: string[] };
    expect(data.keyProblems.map((k) => k.kind)).to.deep.equal([kind]);
    expect(data.keyProblems[0]!.fqdn).to.equal(`${host}.example.test`);
    expect(data.keyProblems[0]!.line).to.match(line);
    expect(data.problems).to.include(data.keyProblems[0]!.line);
    const nagios = p.cli(['status', '--nagios']);
    expect(nagios.code).to.equal(2);
    expect(nagios.stdout).to.match(/^[^\n]*CRITICAL/);
    expect(nagios.stdout).to.include(data.keyProblems[0]!.line);
    const m = parseExposition(p.cli(['status', '--format', 'prometheus']).stdout);
    for (const k of ['shared', 'changed', 'revoked']) expect(valueOf(m, 'postfix_tls_relay_key_problems', { kind: k }), k).to.equal(k === kind ? 1 : 0);
    const check = p.cli(['check', 'client', ...NO_SSH]);
    expect(check.code).to.equal(1);
    expect(check.stdout).to.include(`FAIL  key ${key(host)} in this project`);
    expect(check.stdout).to.include(data.keyProblems[0]!.line);
  }

  it('records each key when the tool makes it: keys.json lists every host with its public-key fingerprint', () => {
    const k = JSON.parse(readFileSync(base.file('.postfix-tls-relay/keys.json'), 'utf8')) as { hosts: Record<string, { fp: string }> };
    for (const h of ['mailhost', 'desk1', 'desk2']) expect(k.hosts[`${h}.example.test`]!.fp).to.equal(pubkeyFingerprint(base.file(key(h)), 'key'));
    expect(k.hosts['relayhost.example.test']!.fp).to.equal(pubkeyFingerprint(base.file(RELAY_KEY), 'key'));
  });

  it("another host's key copied over a key file: refused naming both hosts, reported, and fine once put back", () => {
    const p = fork();
    const own = readFileSync(p.f(key('desk1')));
    copyFileSync(p.f(key('desk2')), p.f(key('desk1')));
    const line = /^(postfix-tls-relay: )?desk1\.example\.test: certs\/smtp-client\/desk1\.example\.test\.key\.pem holds the key of desk2\.example\.test \([0-9A-F:…]+\); a key belongs to one host only: put desk1\.example\.test's own key back, or delete .* to give desk1\.example\.test a new key$/;
    refusedEverywhere(p, line, 'desk1');
    reported(p, line, 'shared', 'desk1');
    writeFileSync(p.f(key('desk1')), own, { mode: 0o600 });
    const r = p.cli(['build']);
    expect(r.code, r.stderr).to.equal(0);
    expect(p.cli(['status', '--check']).code).to.equal(0);
  });

  it("a key from elsewhere written over a host's key file: refused until the recorded key is put back", () => {
    const p = fork();
    const own = readFileSync(p.f(key('desk1')));
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p.f(key('desk1'))]);
    const line = /^(postfix-tls-relay: )?desk1\.example\.test: certs\/smtp-client\/desk1\.example\.test\.key\.pem no longer holds the key recorded for it \([0-9A-F:…]+, now [0-9A-F:…]+: changed outside the tool\); put the recorded key back from your backup, or give desk1\.example\.test a new key: postfix-tls-relay renew desk1\.example\.test --rekey .*$/;
    refusedEverywhere(p, line, 'desk1');
    reported(p, line, 'changed', 'desk1');
    writeFileSync(p.f(key('desk1')), own, { mode: 0o600 });
    expect(p.cli(['build']).code).to.equal(0);
    expect(p.cli(['status', '--check']).code).to.equal(0);
  });

  it('an OpenSSH key written over a recorded key file is never copied into a bundle or certified', () => {
    const p = fork();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-sshkey-'));
    copies.push(dir);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id_ed25519')]);
    copyFileSync(path.join(dir, 'id_ed25519'), p.f(key('desk1')));
    const line = /^(postfix-tls-relay: )?desk1\.example\.test: key certs\/smtp-client\/desk1\.example\.test\.key\.pem is not a readable private key \(damaged\?\); restore it from your backup, or delete it and certs\/smtp-client\/desk1\.example\.test\.crt\.pem to give the host a new key$/;
    refusedEverywhere(p, line, 'desk1');
    expect(readFileSync(p.f('out/desk1.example.test/root/etc/postfix-tls-based-relaying/smtp-client/desk1.example.test.key.pem'), 'utf8')).not.to.include('OPENSSH');
    const st = p.cli(['status', '--check', '-q']);
    expect(st.code).to.equal(1);
    expect(st.stderr.split('\n').filter((l) => line.test(l))).to.have.length(1);
  });

  it("a relay's key used as a client's: refused naming the relay", () => {
    const p = fork();
    copyFileSync(p.f(RELAY_KEY), p.f(key('desk2')));
    const line = /^(postfix-tls-relay: )?desk2\.example\.test: certs\/smtp-client\/desk2\.example\.test\.key\.pem holds the key of relayhost\.example\.test /;
    refusedEverywhere(p, line, 'desk2');
    reported(p, line, 'shared', 'desk2');
  });

  it('a revoked key under another name (a cloned machine) is refused, also after clean (new CA, new keys)', () => {
    const p = fork();
    expect(p.cli(['revoke', 'desk2']).code).to.equal(0);
    const revokedKey = readFileSync(p.f(key('desk2')));
    const revokedFp = pubkeyFingerprint(p.f(key('desk2')), 'key');
    const addDesk3 = () => {
      writeFileSync(p.f(key('desk3')), revokedKey, { mode: 0o600 });
      writeFileSync(p.f('settings.mk'), readFileSync(p.f('settings.mk'), 'utf8').replace('desk1 desk2', 'desk1 desk2 desk3'));
    };
    addDesk3();
    const line = /^(postfix-tls-relay: )?desk3\.example\.test: certs\/smtp-client\/desk3\.example\.test\.key\.pem holds the key of desk2\.example\.test, whose certificate \(serial [0-9A-F]+\) was revoked; a revoked key is never certified or listed again: delete .* to give desk3\.example\.test a new key$/;
    const r = p.cli(['build']);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim()).to.match(line);
    expect(existsSync(p.f(cert('desk3')))).to.equal(false);
    expect(readFileSync(p.f(ALLOW), 'utf8')).not.to.include(revokedFp);
    reported(p, line, 'revoked', 'desk3');
    // clean archives the CA and every key; the revoked key stays revoked for the new CA.
    unlinkSync(p.f(key('desk3')));
    expect(p.cli(['clean']).code).to.equal(0);
    const rebuilt = p.cli(['build', '-q']);
    expect(rebuilt.code, rebuilt.stderr).to.equal(0);
    writeFileSync(p.f(key('desk3')), revokedKey, { mode: 0o600 });
    rmSync(p.f(cert('desk3')));
    const again = p.cli(['build']);
    expect(again.code).to.equal(1);
    expect(again.stderr.trim()).to.match(/desk3\.example\.test\.key\.pem holds the key of desk2\.example\.test, whose certificate \(serial [0-9A-F]+\) was revoked/);
    expect(readFileSync(p.f(ALLOW), 'utf8')).not.to.include(revokedFp);
  });

  it('renew --rekey and deleting key and certificate together still give a host a new key, recorded', () => {
    const p = fork();
    const fp = (h: string) => (JSON.parse(readFileSync(p.f('.postfix-tls-relay/keys.json'), 'utf8')) as { hosts: Record<string, { fp: string }> }).hosts[`${h}.example.test`]!.fp;
    const r = p.cli(['renew', 'desk1', '--rekey']);
    expect(r.code, r.stderr).to.equal(0);
    expect(fp('desk1')).to.equal(pubkeyFingerprint(p.f(key('desk1')), 'key'));
    rmSync(p.f(key('desk2')));
    rmSync(p.f(cert('desk2')));
    const b = p.cli(['build']);
    expect(b.code, b.stderr).to.equal(0);
    expect(fp('desk2')).to.equal(pubkeyFingerprint(p.f(key('desk2')), 'key'));
    expect(p.cli(['build']).code).to.equal(0);
    // A key changed outside the tool is given up with renew --rekey (the fix the refusal names).
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p.f(key('mailhost'))]);
    expect(p.cli(['build']).code).to.equal(1);
    const rk = p.cli(['renew', 'mailhost', '--rekey']);
    expect(rk.code, rk.stderr).to.equal(0);
    expect(p.cli(['build']).code).to.equal(0);
  });

  it('the allowlist is checked at render time: a step made without the planner cannot list a fingerprint twice or a revoked key', async () => {
    const p = fork();
    expect(p.cli(['revoke', 'desk2']).code).to.equal(0);
    const cwd = process.cwd();
    process.chdir(p.dir);
    try {
      const s = loadSettings({ projectDir: p.dir, env: {} });
      const fpOf = (h: string) => pubkeyFingerprint(p.f(h === 'relay' ? RELAY_KEY : key(h)), 'key');
      const step = (entries: { fqdn: string; fingerprint: string }[]): WriteStep => ({
        kind: 'write', id: 'allowlist', title: 'by hand', inputs: [], outputs: [ALLOW], output: ALLOW, mode: 0o644, createOnly: false,
        template: { engine: 'ejs', name: 'relay_clientcerts.ejs' },
        context: { header: '# by hand', entries, retiring: [], retiringHeader: '' },
      });
      const before = readFileSync(p.f(ALLOW), 'utf8');
      const cases: [string, { fqdn: string; fingerprint: string }[], RegExp][] = [
        ['twice', [{ fqdn: 'desk1.example.test', fingerprint: fpOf('desk1') }, { fqdn: 'mailhost.example.test', fingerprint: fpOf('desk1') }],
          /^etc\/postfix\/relay_clientcerts: [0-9A-F:]+ would be listed twice \(desk1\.example\.test and mailhost\.example\.test\)/],
        ['revoked', [{ fqdn: 'desk1.example.test', fingerprint: fpOf('desk1') }, { fqdn: 'desk2.example.test', fingerprint: fpOf('desk2') }],
          /^etc\/postfix\/relay_clientcerts: desk2\.example\.test would be listed with the key of desk2\.example\.test, whose certificate \(serial [0-9A-F]+\) was revoked/],
      ];
      for (const [name, entries, error] of cases) {
        const state = readProjectState(s);
        const passphrase = new Passphrase(s.passphraseFile);
        let err: Error | undefined;
        await execute(step(entries), state, 'by hand', { passphrase }).catch((e: Error) => (err = e));
        await passphrase.dispose();
        expect(err?.message, name).to.match(error);
        expect(readFileSync(p.f(ALLOW), 'utf8'), name).to.equal(before);
      }
    } finally {
      process.chdir(cwd);
    }
  });

  it('an allowlist on disk that lists a fingerprint twice (an old version, a hand edit) fails status --check', () => {
    const p = fork();
    const text = readFileSync(p.f(ALLOW), 'utf8');
    const line = text.split('\n').find((l) => l.endsWith(' desk1.example.test'))!;
    writeFileSync(p.f(ALLOW), `${text}${line.replace('desk1', 'desk2')}\n`);
    const r = p.cli(['status', '--check', '-q']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/etc\/postfix\/relay_clientcerts: [0-9A-F:]+ is listed twice \(desk1\.example\.test and desk2\.example\.test\), and revoking one host would not stop that key; run postfix-tls-relay build/);
  });

  it('a Makefile tree (the seed Makefile, real make) in which two hosts share a key is refused on adoption, naming both and the fix', function () {
    const missing = ['make'].filter((c) => !findCommand(c));
    requirePrerequisites(this, { ok: missing.length === 0, missing });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-adopt-shared-'));
    copies.push(dir);
    const f = (rel: string) => path.join(dir, rel);
    const make = (args: string[]) => execFileSync('make', ['--no-print-directory', ...args], { cwd: dir, env: base.env, stdio: ['ignore', 'pipe', 'pipe'] });
    copyFileSync(path.join(SEED_DIR, 'Makefile'), f('Makefile'));
    const example = readFileSync(path.join(SEED_DIR, 'settings.mk.example'), 'utf8');
    writeFileSync(f('settings.mk'), example.replace(/^certs_passphrase_file\s*:=.*$/m, `certs_passphrase_file\t\t:= ${base.passphraseFile}`));
    const CA = ['-o', 'certs/ca/example.org-ca.key.pem', '-o', 'certs/ca/example.org-ca.crt.pem'];
    make(['smtp-client-crt', 'smtpd-server-key', 'certs/smtpd-server/relayhost.example.org.crt.pem']);
    // A cloned machine: backup got mailhost's key, and the Makefile certified it as backup's.
    mkdirSync(f('certs/smtp-client'), { recursive: true });
    copyFileSync(f('certs/smtp-client/mailhost.example.org.key.pem'), f('certs/smtp-client/backup.example.org.key.pem'));
    make([...CA, 'smtp_client_hostname=backup', 'smtp-client-crt']);
    writeFileSync(f('settings.mk'), `${readFileSync(f('settings.mk'), 'utf8')}smtp_client_hostnames\t\t:= backup\n`);
    const before = snapshot(dir);
    const r = spawnSync(process.execPath, [CLI, 'build', '-C', dir], { env: base.env, cwd: dir, encoding: 'utf8' });
    expect(r.status).to.equal(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.slice(0, -1).every((l) => l.startsWith('warning: settings.mk')), r.stderr).to.equal(true); // notes on the seed's settings.mk
    expect(lines.at(-1)).to.match(/^postfix-tls-relay: backup\.example\.org: certs\/smtp-client\/backup\.example\.org\.key\.pem holds the key of mailhost\.example\.org \([0-9A-F:…]+\); a key belongs to one host only: put backup\.example\.org's own key back, or delete certs\/smtp-client\/backup\.example\.org\.key\.pem and certs\/smtp-client\/backup\.example\.org\.crt\.pem to give backup\.example\.org a new key$/);
    expect(snapshot(dir, (rel) => rel === 'audit.log' || rel.startsWith('.postfix-tls-relay')), 'nothing adopted').to.deep.equal(before);
    // The fix named: backup's key and certificate deleted, the tree is adopted and backup gets its own key.
    rmSync(f('certs/smtp-client/backup.example.org.key.pem'));
    rmSync(f('certs/smtp-client/backup.example.org.crt.pem'));
    const fixed = spawnSync(process.execPath, [CLI, 'build', '-C', dir], { env: base.env, cwd: dir, encoding: 'utf8' });
    expect(fixed.status, fixed.stderr).to.equal(0);
    expect(pubkeyFingerprint(f('certs/smtp-client/backup.example.org.key.pem'), 'key')).not.to.equal(pubkeyFingerprint(f('certs/smtp-client/mailhost.example.org.key.pem'), 'key'));
  });

  it('keys.json of the wrong shape stops build, deploy and export with one line naming it (exit 2)', () => {
    const p = fork();
    const before = snapshot(p.dir, onlyTrees);
    for (const bad of ['', 'null', '[1,2]', '{"version":1,"hosts":{"a":null},"revoked":[]}', '{"version":1,"hosts":{"a":{"key":"k","fp":"zz","id":""}},"revoked":[]}']) {
      writeFileSync(p.f('.postfix-tls-relay/keys.json'), bad);
      for (const args of [['build'], ['deploy', '-n'], ['export', 'ansible', path.join(p.dir, 'ansible')], ['status', '--check']]) {
        const r = p.cli(args);
        expect(r.code, `${bad} ${args.join(' ')}: ${r.stderr}`).to.equal(2);
        expect(r.stderr.trim(), bad).to.match(/^(postfix-tls-relay: )?\.postfix-tls-relay\/keys\.json: [^\n]+; restore it from your backup/);
      }
    }
    expect(snapshot(p.dir, onlyTrees)).to.deep.equal(before);
  });
});
