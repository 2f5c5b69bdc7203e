// Concurrency: builds started together in one project never both write; the CA database stays whole.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { poll, startCli, type Running } from '../support/proc.js';
import { useProject, type TestProject } from '../support/project.js';
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
