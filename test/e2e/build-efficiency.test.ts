// What makes a build cheap, checked as behaviour rather than time (timings live in `npm run bench`):
// a no-op rebuild loads no template engine, no child-process library and no yargs; gpg decrypts the
// CA passphrase once per run; and a parallel build signs in the same order as a serial one.
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { createTestGpg, type TestGpg } from '../support/gpg.js';
import { packagesLoaded } from '../support/modules.js';
import { createProject, settingsText, type TestProject } from '../support/project.js';

interface BuildJson {
  steps: { id: string; state: string }[];
  commands: string[];
  gpgDecryptions: number;
}

function buildJson(p: TestProject, args: string[] = []): BuildJson {
  const r = p.cli(['build', '--json', ...args]);
  expect(r.code, r.stderr).to.equal(0);
  return JSON.parse(r.stdout) as BuildJson;
}

describe('build efficiency', () => {
  let gpg: TestGpg;
  before(() => {
    gpg = createTestGpg();
  });
  after(() => gpg.dispose());

  describe('a rebuild with nothing to do', () => {
    let p: TestProject;
    let first: ReturnType<typeof packagesLoaded>;
    before(() => {
      p = createProject({ gpg });
      first = packagesLoaded(p, ['build', '-q']);
    });
    after(() => p.dispose());

    it('is seen by the module log when a build renders templates and when a command needs yargs', () => {
      // The control: the same log would show the packages the next test says are absent.
      expect(first.code, first.stderr).to.equal(0);
      expect([...first.packages]).to.include('ejs');
      expect([...first.packages]).to.include('execa'); // a build that runs commands starts them through execa
      const plan = packagesLoaded(p, ['plan', '--format', 'text']); // a command's own option: yargs reads it
      expect(plan.code, plan.stderr).to.equal(0);
      expect([...plan.packages]).to.include('yargs');
    });

    it('a plain plan and status load no yargs, and say what the same commands read by yargs say', () => {
      for (const [plain, byYargs] of [
        [['plan'], ['plan', '--format', 'text']],
        [['plan', '--json'], ['plan', '--json', '--format', 'text']],
        [['status', '--json'], ['status', '--json', '--warn-days', '30', '--crl-warn-days', '7']],
        [['status'], ['status', '--format', 'text']],
      ]) {
        const a = packagesLoaded(p, plain!);
        const b = packagesLoaded(p, byYargs!);
        expect(a.code, a.stderr).to.equal(0);
        expect(b.code, b.stderr).to.equal(0);
        expect(a.packages.has('yargs'), plain!.join(' ')).to.equal(false);
        expect(b.packages.has('yargs'), byYargs!.join(' ')).to.equal(true);
        expect(a.stdout, plain!.join(' ')).to.equal(b.stdout);
        expect(a.stderr, plain!.join(' ')).to.equal(b.stderr);
      }
    });

    it('loads neither yargs, execa, ejs nor fs-extra', () => {
      const audit = readFileSync(p.file('audit.log'), 'utf8');
      const r = packagesLoaded(p, ['build', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      const result = JSON.parse(r.stdout) as BuildJson;
      expect(result.commands).to.deep.equal([]);
      expect(result.steps.filter((s) => s.state !== 'skipped')).to.deep.equal([]);
      expect(r.urls.some((u) => u.endsWith('/dist/lib/runner/runner.js')), 'the log saw the runner').to.equal(true);
      for (const name of ['yargs', 'execa', 'ejs', 'fs-extra']) expect(r.packages.has(name), name).to.equal(false);
      expect(readFileSync(p.file('audit.log'), 'utf8')).to.equal(audit);
    });

    it('does not decrypt the passphrase', () => {
      expect(buildJson(p).gpgDecryptions).to.equal(0);
    });
  });

  it('decrypts the passphrase once for a whole build', () => {
    const p = createProject({ gpg });
    try {
      const r = buildJson(p);
      const passphraseSteps = r.commands.filter((c) => c.startsWith('gpg --batch --decrypt '));
      expect(passphraseSteps.length).to.be.greaterThan(2);
      expect(r.gpgDecryptions).to.equal(1);
    } finally {
      p.dispose();
    }
  });

  it('refuses a --jobs that is not a whole number of at least 1, before building anything', () => {
    const p = createProject({ gpg });
    try {
      for (const jobs of ['abc', '0', '1.5', '-2']) {
        const r = p.cli(['build', '--jobs', jobs]);
        expect(r.code, `--jobs ${jobs}`).to.equal(2);
        expect(r.stderr).to.match(/^postfix-tls-relay: --jobs: expected a whole number .*, e\.g\. --jobs 2\n$/);
      }
      expect(existsSync(p.file('certs'))).to.equal(false);
    } finally {
      p.dispose();
    }
  });

  describe('a parallel build', () => {
    const settings = (pass: string) => settingsText(pass, 'smtp_client_hostnames := alpha beta gamma delta');
    let serial: TestProject;
    let parallel: TestProject;
    before(() => {
      serial = createProject({ gpg, settings });
      parallel = createProject({ gpg, settings });
      buildJson(serial, ['--jobs', '1']);
      buildJson(parallel, ['--jobs', '4']);
    });
    after(() => {
      serial.dispose();
      parallel.dispose();
    });

    const auditSteps = (p: TestProject) =>
      readFileSync(p.file('audit.log'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: string }).step);
    /** CN of each certificate in the CA database, in the order openssl ca signed them. */
    const signed = (p: TestProject) =>
      readFileSync(p.file('certs/ca/db/index.txt'), 'utf8').trim().split('\n').map((l) => /\/CN=([^/\t]+)/.exec(l)?.[1]);

    it('signs in plan order, as a one-at-a-time build does: the relay first, then the clients in order', () => {
      const want = ['relayhost', 'mailhost', 'alpha', 'beta', 'gamma', 'delta'].map((h) => `${h}.example.test`);
      expect(signed(serial)).to.deep.equal(want);
      expect(signed(parallel)).to.deep.equal(want);
    });

    it('writes the audit log in plan order, as a one-at-a-time build does', () => {
      const plan = JSON.parse(parallel.cli(['plan', '--json']).stdout) as { steps: { id: string; command: string | null }[] };
      const execSteps = plan.steps.filter((s) => s.command !== null).map((s) => s.id);
      expect(execSteps.length).to.equal(2 + 6 * 3);
      expect(auditSteps(parallel)).to.deep.equal(execSteps);
      expect(auditSteps(serial)).to.deep.equal(execSteps);
    });
  });
});
