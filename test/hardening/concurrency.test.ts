// Concurrency: builds started together in one project never both write; the CA database stays whole.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isRunning, poll, startCli, type Running } from '../support/proc.js';
import { settingsText, useProject, type TestProject } from '../support/project.js';
import { freePort } from '../support/lab.js';
import { exampleLayout, expectCaDatabaseSound, expectCompleteTree, snapshot } from '../support/tree.js';

const LOCK = '.postfix-tls-relay/lock';
const REFUSED = /^postfix-tls-relay: \.postfix-tls-relay\/lock: another postfix-tls-relay \(pid \d+\) is working in this project; wait for it to finish and run again \(if no postfix-tls-relay is running in this project, remove \/\S+\/\.postfix-tls-relay\/lock and run again\)$/;

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync('true');
  return r.pid!;
}

const indexLines = (p: TestProject) => readFileSync(p.file('certs/ca/db/index.txt'), 'utf8').split('\n').filter(Boolean);

/** Each run either built (0) or refused the lock with the one-line message (1); nothing else. */
async function expectBuiltOrRefused(runs: Running[]): Promise<{ built: number; refused: number }> {
  let built = 0;
  let refused = 0;
  for (const r of runs) {
    const res = await r.done;
    if (res.code === 0) built++;
    else {
      expect(res.code, res.stderr).to.equal(1);
      expect(res.stderr.trim().split('\n'), res.stderr).to.have.length(1);
      expect(res.stderr.trim()).to.match(REFUSED);
      refused++;
    }
  }
  return { built, refused };
}

describe('hardening: concurrent builds in one project', function () {
  this.timeout(300_000);
  const fx = useProject();

  it('a second build while the first holds the lock refuses with one line naming the lock and the pid, and writes nothing', async () => {
    const first = startCli(['build', '-j', '1', '-C', fx.p.dir], { env: fx.p.env, cwd: fx.p.dir });
    let holder = '';
    await poll(() => {
      if (!existsSync(fx.p.file(LOCK))) return false;
      holder = readFileSync(fx.p.file(LOCK), 'utf8').trim();
      return true;
    }, first.done);
    expect(holder, 'the first build finished before it was seen holding the lock').to.equal(String(first.pid));
    // Freeze the first build (and its children) while it holds the lock, so that the second surely meets it.
    process.kill(-first.pid, 'SIGSTOP');
    const before = snapshot(fx.p.dir);
    let second;
    try {
      second = fx.p.cli(['build']);
      expect(snapshot(fx.p.dir), 'the refused build wrote something').to.deep.equal(before);
    } finally {
      process.kill(-first.pid, 'SIGCONT');
    }
    expect(second.code).to.equal(1);
    expect(second.stderr.trim()).to.equal(`postfix-tls-relay: .postfix-tls-relay/lock: another postfix-tls-relay (pid ${first.pid}) is working in this project; wait for it to finish and run again (if no postfix-tls-relay is running in this project, remove ${fx.p.file(LOCK)} and run again)`);
    expect((await first.done).code).to.equal(0);
    expect(indexLines(fx.p)).to.have.length(2);
    expectCompleteTree(fx.p.dir, exampleLayout());
  });

  it('eight builds started at once: each builds or refuses, and the CA signs each certificate exactly once', async () => {
    const runs = Array.from({ length: 8 }, () => startCli(['build', '-C', fx.p.dir], { env: fx.p.env, cwd: fx.p.dir }));
    const { built, refused } = await expectBuiltOrRefused(runs);
    if (process.env.PTR_TEST_VERBOSE) console.log(`    ${built} built, ${refused} refused`);
    expect(built).to.be.at.least(1);
    expect(built + refused).to.equal(8);
    expect(indexLines(fx.p), 'two certificates, signed once each').to.have.length(2);
    expectCaDatabaseSound(fx.p.dir);
    expectCompleteTree(fx.p.dir, exampleLayout());
    expect(existsSync(fx.p.file(LOCK))).to.equal(false);
  });

  it('eight builds finding the same stale lock (its owner was killed): only one takes it over at a time', async () => {
    mkdirSync(fx.p.file('.postfix-tls-relay'), { recursive: true });
    writeFileSync(fx.p.file(LOCK), `${deadPid()}\n`);
    const runs = Array.from({ length: 8 }, () => startCli(['build', '-C', fx.p.dir], { env: fx.p.env, cwd: fx.p.dir }));
    const { built, refused } = await expectBuiltOrRefused(runs);
    if (process.env.PTR_TEST_VERBOSE) console.log(`    ${built} built, ${refused} refused`);
    expect(built).to.be.at.least(1);
    expect(indexLines(fx.p), 'two certificates, signed once each').to.have.length(2);
    expectCaDatabaseSound(fx.p.dir);
    expectCompleteTree(fx.p.dir, exampleLayout());
  });

  it('taking over a stale lock waits for openssl still working in the project (an orphan of the killed run)', async () => {
    mkdirSync(fx.p.file('.postfix-tls-relay'), { recursive: true });
    writeFileSync(fx.p.file(LOCK), `${deadPid()}\n`);
    // A real openssl in the project directory that runs until we close its input.
    const orphan = spawn('openssl', ['dgst', '-sha256'], { cwd: fx.p.dir, stdio: ['pipe', 'ignore', 'ignore'] });
    const orphanDone = new Promise((r) => orphan.on('exit', r));
    try {
      const build = startCli(['build', '-C', fx.p.dir], { env: fx.p.env, cwd: fx.p.dir });
      await new Promise((r) => setTimeout(r, 1500));
      expect(existsSync(fx.p.file('audit.log')), 'the build ran a command while openssl was still working').to.equal(false);
      expect(existsSync(fx.p.file('certs')), 'the build wrote while openssl was still working').to.equal(false);
      orphan.stdin!.end();
      await orphanDone;
      const res = await build.done;
      expect(res.code, res.stderr).to.equal(0);
      expectCompleteTree(fx.p.dir, exampleLayout());
    } finally {
      orphan.kill();
    }
  });
});

// check records what it found on each host in .postfix-tls-relay/deployments.json (for the metrics):
// that read-merge-write happens under the project lock, as deploy's does, so a check never loses a
// deploy's record or writes while another run works. The holder here is a real renew, frozen with
// SIGSTOP while it holds the lock; the hosts are 127.0.0.1 on a port nothing listens on.
describe('hardening: check and the project lock (deployments.json)', function () {
  this.timeout(120_000);
  const DEPLOYMENTS = '.postfix-tls-relay/deployments.json';
  const started: Running[] = [];
  // Before the project's own afterEach (it removes the directory): nothing this test started still runs.
  afterEach(async () => {
    for (const r of started.splice(0)) {
      if (isRunning(r.pid)) {
        try {
          process.kill(-r.pid, 'SIGKILL'); // its whole group, by the group's id
        } catch {
          /* ended meanwhile */
        }
      }
      await r.done;
    }
  });
  const fx = useProject({ settings: (pass) => settingsText(pass, 'smtp_client_ssh_host := 127.0.0.1\nsmtpd_server_ssh_host := 127.0.0.1') });
  let port = 0;
  const check = () => ['check', 'all', '--set', `smtp_client_ssh_port=${port}`, '--set', `smtpd_server_ssh_port=${port}`];
  const records = (p: TestProject) => JSON.parse(readFileSync(p.file(DEPLOYMENTS), 'utf8')) as { hosts: Record<string, { source: string; time: string; ok: boolean }> };

  beforeEach(async () => {
    port = await freePort();
    const b = fx.p.cli(['build', '-q']);
    expect(b.code, b.stderr).to.equal(0);
  });

  /** A renew of mailhost, stopped (with its children) once it is seen holding the lock. */
  async function frozenHolder(p: TestProject): Promise<Running> {
    const holder = startCli(['renew', 'mailhost', '-j', '1', '-q', '-C', p.dir], { env: p.env, cwd: p.dir });
    started.push(holder);
    let seen = '';
    await poll(() => {
      try {
        seen = readFileSync(p.file(LOCK), 'utf8').trim();
      } catch {
        return false;
      }
      if (seen !== String(holder.pid)) return false;
      process.kill(-holder.pid, 'SIGSTOP');
      return true;
    }, holder.done);
    expect(seen, 'the renew finished before it was seen holding the lock').to.equal(String(holder.pid));
    return holder;
  }

  it('alone: check takes the lock for its record, writes deployments.json and leaves no lock behind', () => {
    const r = fx.p.cli(check());
    expect(r.code, r.stderr).to.equal(1); // the hosts cannot be reached
    expect(r.stderr).to.not.match(/not updated|lock/);
    const hosts = records(fx.p).hosts;
    expect(Object.entries(hosts).map(([h, x]) => [h, x.source, x.ok]).sort()).to.deep.equal([['mailhost.example.test', 'check', false], ['relayhost.example.test', 'check', false]]);
    expect(existsSync(fx.p.file(LOCK))).to.equal(false);
  });

  it('while another run holds the lock past its wait: check reports as usual, names the holder, and leaves deployments.json untouched', async () => {
    const first = fx.p.cli(check());
    expect(first.code, first.stderr).to.equal(1);
    const before = readFileSync(fx.p.file(DEPLOYMENTS), 'utf8');
    const holder = await frozenHolder(fx.p);
    let r;
    const t0 = Date.now();
    try {
      r = fx.p.cli(check());
    } finally {
      process.kill(-holder.pid, 'SIGCONT');
    }
    expect(Date.now() - t0, 'check waited for the lock before giving up').to.be.at.least(9500);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.match(/^ {2}FAIL {2}ssh root@127\.0\.0\.1 port \d+: /m);
    expect(r.stderr).to.include(`waiting for pid ${holder.pid} to finish its work in this project before recording the check in ${DEPLOYMENTS} …`);
    expect(r.stderr).to.include(`warning: ${DEPLOYMENTS}: not updated (.postfix-tls-relay/lock: another postfix-tls-relay (pid ${holder.pid}) is working in this project; wait for it to finish and run again (if no postfix-tls-relay is running in this project, remove ${fx.p.file(LOCK)} and run again)); monitoring shows the previous deploy or check`);
    expect(readFileSync(fx.p.file(DEPLOYMENTS), 'utf8'), 'check wrote deployments.json while another run held the lock').to.equal(before);
    const done = await holder.done;
    expect(done.code, done.stderr).to.equal(0);
    expect(existsSync(fx.p.file(LOCK))).to.equal(false);
  });

  it('a holder that finishes within the wait: check waits for it, then records', async () => {
    const holder = await frozenHolder(fx.p);
    let checked: Running | undefined;
    try {
      checked = startCli([...check(), '-C', fx.p.dir], { env: fx.p.env, cwd: fx.p.dir });
      started.push(checked);
      await poll(() => checked!.stderr().includes(`waiting for pid ${holder.pid}`), checked.done, 20);
      expect(existsSync(fx.p.file(DEPLOYMENTS)), 'check wrote before the holder was done').to.equal(false);
    } finally {
      process.kill(-holder.pid, 'SIGCONT');
    }
    const [h, c] = await Promise.all([holder.done, checked.done]);
    expect(h.code, h.stderr).to.equal(0);
    expect(c.code, c.stderr).to.equal(1);
    expect(c.stderr).to.not.include('not updated');
    expect(Object.values(records(fx.p).hosts).map((x) => x.source)).to.deep.equal(['check', 'check']);
    expect(existsSync(fx.p.file(LOCK))).to.equal(false);
  });
});
