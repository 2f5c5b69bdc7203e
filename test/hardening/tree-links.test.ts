// Nothing but what the tool wrote (issue 27, items 3, 4 and 8): a symbolic link at any directory or file
// of the trees, to a world-writable directory or to a key outside the project, is refused by build, every
// lifecycle command and deploy, and reported by status --check; a special file is never read; a
// setuid/setgid bit in a bundle is reported. Real openssl and gpg.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copyProject, createProject, settingsText, type ProjectCopy, type TestProject } from '../support/project.js';
import { snapshot } from '../support/tree.js';

const H = 'mailhost.example.test';
const KEY = `certs/smtp-client/${H}.key.pem`;
const BUNDLE_KEY = `out/${H}/root/etc/postfix-tls-based-relaying/smtp-client/${H}.key.pem`;
const linkLine = (rel: string) => new RegExp(`^(postfix-tls-relay: )?${rel.replace(/[.]/g, '\\.')}: a symbolic link \\(to [^)]+\\), and postfix-tls-relay never reads, writes, moves or ships anything through one; `);

describe('hardening: no symbolic link anywhere in the trees, modes fixed on the way out', function () {
  this.timeout(600_000);
  let base: TestProject;
  const temps: string[] = [];

  before(() => {
    base = createProject({ settings: (f) => settingsText(f, 'smtp_client_hostnames := desk1') });
    const r = base.cli(['build', '-q']);
    expect(r.code, r.stderr).to.equal(0);
    // A retired/ directory and a CRL exist too (renew --rekey, revoke), so every directory kind is there.
    expect(base.cli(['renew', 'desk1', '--rekey', '-q']).code).to.equal(0);
  });
  after(() => {
    for (const d of temps) rmSync(d, { recursive: true, force: true });
    base.dispose();
  });

  const temp = (prefix: string) => {
    const d = mkdtempSync(path.join(os.tmpdir(), prefix));
    temps.push(d);
    return d;
  };

  const fork = (): ProjectCopy => copyProject(base, temp('ptr-links-'));

  /** Every command that reads, writes, moves or ships refuses with `line` and changes nothing, here or where the link points. */
  function refused(p: ReturnType<typeof fork>, line: RegExp, outside: string): void {
    const before = snapshot(p.dir, (rel) => rel === 'audit.log' || rel.startsWith('.postfix-tls-relay/'));
    const there = snapshot(outside);
    for (const args of [['build'], ['revoke', 'desk1'], ['renew', 'mailhost', '--rekey'], ['renew', 'mailhost'], ['crl'], ['add-client', 'desk7'], ['clean'], ['status', '--check'], ['deploy', '-n', '--json'], ['deploy', '--ssh-option', 'ProxyCommand=false']]) {
      const r = p.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(1);
      expect(r.stderr.trim().split('\n'), `${args.join(' ')}: ${r.stderr}`).to.have.length(1);
      expect(r.stderr.trim(), args.join(' ')).to.match(line);
      if (args[1] === '-n') expect(r.stdout, 'deploy -n says nothing is ready').not.to.include('"ready": true');
    }
    expect(snapshot(p.dir, (rel) => rel === 'audit.log' || rel.startsWith('.postfix-tls-relay/')), 'the project').to.deep.equal(before);
    expect(snapshot(outside), 'where the link points').to.deep.equal(there);
    const nagios = p.cli(['status', '--nagios']);
    expect(nagios.stdout).to.match(line.source.startsWith('^(postfix-tls-relay: )?') ? new RegExp(line.source.replace('^(postfix-tls-relay: )?', '')) : line);
  }

  // Each directory kind of the trees, replaced by a link to a world-writable copy of itself.
  for (const dir of [`out/${H}`, 'certs/ca', 'certs/smtp-client/retired', 'certs/ca/db/newcerts', 'certs/ca/db', 'etc/postfix', `out/${H}/root/etc`]) {
    it(`${dir} as a symbolic link to a world-writable directory`, () => {
      const p = fork();
      const outside = temp('ptr-outside-');
      const target = path.join(outside, 'd');
      renameSync(p.f(dir), target);
      chmodSync(target, 0o777);
      symlinkSync(target, p.f(dir));
      refused(p, linkLine(dir), outside);
    });
  }

  it('archive/ as a symbolic link to a world-writable directory: clean moves nothing there', () => {
    const p = fork();
    const outside = temp('ptr-outside-');
    chmodSync(outside, 0o777);
    symlinkSync(outside, p.f('archive'));
    const r = p.cli(['clean']);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim()).to.match(/archive: writable by everyone \(mode 0777\)/);
    expect(snapshot(outside).size).to.equal(0);
    expect(existsSync(p.f('certs/ca'))).to.equal(true);
  });

  it('a directory inside archive/ as a link is refused by clean', () => {
    const p = fork();
    expect(p.cli(['clean']).code).to.equal(0);
    expect(p.cli(['build', '-q']).code).to.equal(0);
    const outside = temp('ptr-outside-');
    const [first] = execFileSync('ls', [p.f('archive')], { encoding: 'utf8' }).trim().split('\n');
    renameSync(p.f(`archive/${first}`), path.join(outside, 'old'));
    chmodSync(path.join(outside, 'old'), 0o777);
    symlinkSync(path.join(outside, 'old'), p.f(`archive/${first}`));
    const r = p.cli(['clean']);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim()).to.match(linkLine(`archive/${first}`));
  });

  it("a host's key as a symbolic link to a PEM key outside the project (an admin's ssh key) is never read, certified or shipped", () => {
    const p = fork();
    const outside = temp('ptr-outside-');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(outside, 'id_ecdsa')]);
    chmodSync(path.join(outside, 'id_ecdsa'), 0o600);
    rmSync(p.f(KEY));
    rmSync(p.f(`certs/smtp-client/${H}.crt.pem`));
    symlinkSync(path.join(outside, 'id_ecdsa'), p.f(KEY));
    refused(p, linkLine(KEY), outside);
    expect(existsSync(p.f(`certs/smtp-client/${H}.crt.pem`))).to.equal(false);
  });

  it("a bundle's key as a symbolic link to the project's own key (rsync would skip it): deploy -n is not ready", () => {
    const p = fork();
    rmSync(p.f(BUNDLE_KEY));
    symlinkSync(p.f(KEY), p.f(BUNDLE_KEY));
    refused(p, linkLine(BUNDLE_KEY), path.dirname(p.f(KEY)));
  });

  it('a certificate as a symbolic link, and a FIFO as a key, are refused without being opened', () => {
    const p = fork();
    const cert = `certs/smtp-client/${H}.crt.pem`;
    const outside = temp('ptr-outside-');
    renameSync(p.f(cert), path.join(outside, 'c.pem'));
    symlinkSync(path.join(outside, 'c.pem'), p.f(cert));
    refused(p, linkLine(cert), outside);
    rmSync(p.f(cert));
    renameSync(path.join(outside, 'c.pem'), p.f(cert));
    rmSync(p.f(KEY));
    execFileSync('mkfifo', ['-m', '600', p.f(KEY)]);
    const r = p.cli(['build']); // a read would block forever: spawnSync would hang
    expect(r.code).to.equal(1);
    expect(r.stderr.trim()).to.match(new RegExp(`^postfix-tls-relay: ${KEY.replace(/[.]/g, '\\.')}: not a regular file or directory \\(a FIFO, socket or device\\), so it is never read or shipped; remove it`));
    expect(p.cli(['status', '--check']).code).to.equal(1);
  });

  it('a setuid or setgid bit in a bundle is reported by status --check (and deploy refuses a key others may read)', () => {
    const p = fork();
    expect(p.cli(['status', '--check']).code).to.equal(0);
    const apply = `out/${H}/root/etc/postfix-tls-based-relaying/apply-smtp-client.sh`;
    const ca = `out/${H}/root/etc/postfix-tls-based-relaying/ca/example.test-ca.crt.pem`;
    chmodSync(p.f(apply), 0o4755);
    chmodSync(p.f(ca), 0o6644);
    const r = p.cli(['status', '--check', '--json']);
    expect(r.code).to.equal(1);
    const problems = (JSON.parse(r.stdout) as { problems: string[] }).problems;
    expect(r.stderr).to.include(`${apply}: mode 4755 has the setuid bit, which a host must never get with root's files (deploy strips it); chmod ug-s ${apply}`);
    expect(r.stderr).to.include(`${ca}: mode 6644 has the setuid bit`);
    expect(problems).to.include(`${apply}: mode 4755 has the setuid bit, which a host must never get with root's files (deploy strips it); chmod ug-s ${apply}`);
    chmodSync(p.f(apply), 0o755);
    chmodSync(p.f(ca), 0o644);
    chmodSync(p.f(BUNDLE_KEY), 0o644);
    const d = p.cli(['deploy', '-n']);
    expect(d.stderr).to.match(new RegExp(`${BUNDLE_KEY.replace(/[.]/g, '\\.')}: a private key with mode 0644, which is never shipped; run postfix-tls-relay build`));
    expect(p.cli(['build', '-q']).code).to.equal(0); // sets it back to 0600
    expect(p.cli(['status', '--check']).code).to.equal(0);
  });
});
