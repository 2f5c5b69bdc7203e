// Secrets: the CA passphrase is never in a process's argv or environment, in any output, message,
// audit line or file except the gpg-encrypted one; no plaintext temp file exists; private files are
// private whatever the umask.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestGpg, type TestGpg } from '../support/gpg.js';
import { requirePrerequisites } from '../support/lab.js';
import { canStrace } from '../support/prereq.js';
import { descendantsOf, poll, sample, startCli, type ProcSample } from '../support/proc.js';
import { CLI, createProject, PASSPHRASE, type TestProject } from '../support/project.js';
import { exampleLayout, expectCompleteTree, files, snapshot } from '../support/tree.js';

const SECRET = Buffer.from(PASSPHRASE);
const L = exampleLayout();

/** Every file under `dir` that contains the passphrase. */
function filesHolding(dir: string, except: string[] = []): string[] {
  return files(dir).filter((f) => !except.includes(f) && readFileSync(path.join(dir, f)).includes(SECRET));
}

describe('hardening: the CA passphrase stays secret', function () {
  this.timeout(300_000);
  let gpg: TestGpg;
  let p: TestProject;
  let tmpdir: string;

  before(() => {
    gpg = createTestGpg();
    // Started beforehand so that it is no child of the build (the traced build must not wait for a daemon).
    execFileSync('gpgconf', ['--launch', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: gpg.home } });
  });
  after(() => gpg.dispose());
  beforeEach(() => {
    p = createProject({ gpg });
    tmpdir = mkdtempSync(path.join(os.tmpdir(), 'ptr-tmpdir-'));
  });
  afterEach(() => {
    p.dispose();
    rmSync(tmpdir, { recursive: true, force: true });
  });

  it('is in no argv or environment of any process during a build (sampled from /proc), nor in any output or file', async () => {
    // A canary in the environment proves the sampler sees what children inherit.
    const canary = `canary-${randomBytes(8).toString('hex')}`;
    const env = { ...p.env, PTR_TEST_CANARY: canary, TMPDIR: tmpdir };
    const samples: ProcSample[] = [];
    const run = startCli(['build', '-v', '-C', p.dir], { env, cwd: p.dir });
    await poll(() => {
      for (const pid of [run.pid, ...descendantsOf(run.pid)]) {
        const s = sample(pid);
        if (s) samples.push(s);
      }
    }, run.done);
    const res = await run.done;
    expect(res.code, res.stderr).to.equal(0);
    const programs = samples.filter((s) => s.comm === 'openssl' || s.comm === 'gpg');
    const pids = new Set(programs.map((s) => s.pid));
    expect(pids.size, 'too few child processes sampled to mean anything').to.be.at.least(5);
    expect(programs.some((s) => s.comm === 'gpg'), 'gpg was not sampled').to.equal(true);
    expect(programs.some((s) => s.environ.includes(canary)), 'the sampler does not see the environment').to.equal(true);
    for (const s of samples) {
      expect(s.cmdline.includes(SECRET), `passphrase in argv of ${s.comm} (${s.pid})`).to.equal(false);
      expect(s.environ.includes(SECRET), `passphrase in the environment of ${s.comm} (${s.pid})`).to.equal(false);
    }
    expect(res.stdout + res.stderr).to.not.include(PASSPHRASE);
    expect(filesHolding(p.dir, ['ca-passphrase.gpg'])).to.deep.equal([]);
    expect(filesHolding(tmpdir)).to.deep.equal([]);
    expect(filesHolding(gpg.home)).to.deep.equal([]);
    expectCompleteTree(p.dir, L);
  });

  it('is in no execve of any process (strace), and no file is created but the outputs, their temp files and the lock', function () {
    requirePrerequisites(this, canStrace());
    const canary = `canary-${randomBytes(8).toString('hex')}`;
    const trace = path.join(tmpdir, 'trace');
    const env = { ...p.env, PTR_TEST_CANARY: canary, TMPDIR: tmpdir };
    // -ff: one trace file per process, so that no system call is split by another process's.
    const r = spawnSync('strace', ['-f', '-ff', '-qq', '-v', '-s', '65536', '-e', 'trace=execve,open,openat,creat,rename,renameat,renameat2,link,linkat', '-o', trace, process.execPath, CLI, 'build', '--json', '-C', p.dir], { env, cwd: p.dir, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(`${r.stdout}${r.stderr}`).to.not.include(PASSPHRASE);
    const traces = readdirSync(tmpdir).filter((f) => f.startsWith('trace.')).map((f) => readFileSync(path.join(tmpdir, f), 'utf8'));
    const text = traces.join('\n');
    const execs = traces.filter((t) => /^execve\("[^"]*\/(openssl|gpg)", .* = 0$/m.test(t));
    expect(execs.length, 'processes that ran gpg or openssl: gpg once and openssl for every step').to.be.at.least(9);
    expect(execs.some((l) => l.includes(canary)), 'strace shows the environment').to.equal(true);
    expect(text.includes(PASSPHRASE), 'the passphrase appears in a traced system call').to.equal(false);

    // Every file opened for writing: where it is, and what became of it.
    const created = new Set<string>();
    const movedAway = new Set<string>();
    const abs = (f: string) => (path.isAbsolute(f) ? f : path.join(p.dir, f));
    for (const l of text.split('\n')) {
      const open = /(?:open|openat)\((?:AT_FDCWD, )?"([^"]+)", ([A-Z_|]+)/.exec(l);
      if (open && /O_WRONLY|O_RDWR|O_CREAT/.test(open[2]!) && !/ = -1 /.test(l)) created.add(abs(open[1]!));
      const mv = /(?:rename|renameat2?|link|linkat)\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)"/.exec(l);
      if (mv && !/ = -1 /.test(l)) movedAway.add(abs(mv[1]!));
    }
    expect(created.size).to.be.at.least(30);
    for (const f of created) {
      if (f === '/dev/tty' || f === '/dev/null') continue;
      const inProject = f.startsWith(`${p.dir}/`);
      const inGpgHome = f.startsWith(`${gpg.home}/`);
      expect(inProject || inGpgHome, `${f} written outside the project and GnuPG home`).to.equal(true);
      if (existsSync(f)) {
        expect(readFileSync(f).includes(SECRET), `${f} holds the passphrase`).to.equal(false);
      } else {
        // Gone: must have become another file (temp → output) or be the released lock.
        expect(movedAway.has(f) || /\/\.postfix-tls-relay\/lock(\.\d+)?$/.test(f), `${f} was written and then removed without becoming an output`).to.equal(true);
      }
    }
    expect(filesHolding(p.dir, ['ca-passphrase.gpg'])).to.deep.equal([]);
    expect(filesHolding(tmpdir).filter((f) => !f.startsWith('trace.'))).to.deep.equal([]);
  });

  it('is in no error message or output of a failing build (a CA key it does not open, with -v)', () => {
    expect(p.cli(['build']).code).to.equal(0);
    gpg.encrypt('not the CA passphrase but a secret too\n', p.passphraseFile);
    rmSync(p.file(`certs/smtp-client/${L.clients[0]}.crt.pem`));
    const r = p.cli(['build', '-v']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('does not open this key');
    for (const secret of [PASSPHRASE, 'not the CA passphrase']) expect(`${r.stdout}${r.stderr}`).to.not.include(secret);
    expect(filesHolding(p.dir, ['ca-passphrase.gpg'])).to.deep.equal([]);
  });
});

describe('hardening: private files are private whatever the umask', function () {
  this.timeout(120_000);

  for (const umask of [0o000, 0o022, 0o077]) {
    it(`umask ${umask.toString(8).padStart(3, '0')}: keys 0600, certs/ and the CA directory 0700, nothing group- or world-writable`, async () => {
      const p = createProject();
      try {
        const run = startCli(['build', '-C', p.dir], { env: p.env, cwd: p.dir, umask });
        const res = await run.done;
        expect(res.code, res.stderr).to.equal(0);
        const snap = snapshot(p.dir);
        const keys = [...snap.keys()].filter((f) => f.endsWith('.key.pem'));
        expect(keys.length).to.equal(5); // the CA key, two host keys, two bundle copies
        for (const k of keys) expect(snap.get(k)!.mode, k).to.equal(0o600);
        for (const d of ['certs', 'certs/ca', 'certs/ca/db', 'certs/ca/db/newcerts', 'certs/smtp-client', 'certs/smtpd-server', 'out', '.postfix-tls-relay']) {
          expect(snap.get(d)?.mode, d).to.equal(0o700);
        }
        for (const [f, e] of snap) {
          if (f === 'settings.mk' || f === 'ca-passphrase.gpg') continue; // the test wrote these
          expect(e.mode & 0o022, `${f} is group- or world-writable (${e.mode.toString(8)})`).to.equal(0);
        }
        // Public files stay readable for rsync to the hosts.
        expect(statSync(p.file(L.caCert)).mode & 0o777).to.equal(0o644);
        expect(statSync(p.file(`out/${L.servers[0]}/apply.sh`)).mode & 0o777).to.equal(0o755);
      } finally {
        p.dispose();
      }
    });
  }
});
