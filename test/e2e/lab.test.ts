// Proves the test lab itself, before (and independently of) the product: two Postfix instances
// relaying over plain SMTP into smtp-sink, a private sshd usable by ssh and rsync, and a clean teardown.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createLab, freePort, isAlive, labPrerequisites, requirePrerequisites, type Lab } from '../support/lab.js';
import { startSshd, sshdPrerequisites, type Sshd } from '../support/sshd.js';

/** Test-only: a plain (no TLS) smtpd on relayPort in the relay, and the client relaying to it by name. */
async function enablePlainRelay(lab: Lab): Promise<void> {
  const p = lab.relayPort;
  await lab.postconf('relay', ['-M', `${p}/inet=${p} inet n - n - - smtpd`]);
  await lab.postconf('client', ['-e', `relayhost = [${lab.relayFqdn}]:${p}`]);
  await lab.reload('relay');
  await lab.reload('client');
}

describe('e2e: Postfix test lab', function () {
  let lab: Lab | undefined;

  before(async function () {
    requirePrerequisites(this, labPrerequisites());
    lab = await createLab({
      relayFqdn: 'relayhost.example.test',
      clientFqdns: ['mailhost.example.test', 'other.example.test'],
      relayPort: await freePort(),
    });
    await lab.start();
  });

  after(async function () {
    await lab?.cleanup();
  });

  it('adds its host names to /etc/hosts and writes no TLS setting but the relay\'s outbound "may" (a stock Debian relay\'s)', async function () {
    const l = lab!;
    expect(fs.readFileSync('/etc/hosts', 'utf8').split('\n')).to.include(l.hostsLine);
    expect(await l.postconf('relay', ['-h', 'smtp_tls_security_level'])).to.equal('may');
    for (const which of ['client', 'relay'] as const) {
      const main = (await l.postconf(which, ['-n'])).split('\n').filter((line) => !(which === 'relay' && line === 'smtp_tls_security_level = may')).join('\n');
      expect(main).to.not.match(/tls/i);
      expect(await l.postconf(which, ['-M'])).to.not.match(/\binet\b/); // no listener yet
    }
  });

  it('relays client -> relay -> sink over plain SMTP', async function () {
    const l = lab!;
    await enablePlainRelay(l);
    const subject = `lab plain ${Date.now()}`;
    await l.inject({ from: 'sender@mailhost.example.test', to: 'rcpt@example.org', subject });
    const mail = await l.waitForDelivery(subject);
    expect(mail).to.match(new RegExp(`^Subject: ${subject}$`, 'm'));
    expect(mail).to.include('X-Rcpt-Args: <rcpt@example.org>');
    await l.waitForLog('client', new RegExp(`relay=${l.relayFqdn}\\[127\\.0\\.0\\.1\\]:${l.relayPort},.*status=sent`));
    await l.waitForLog('relay', new RegExp(`relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${l.sinkPort},.*status=sent`));
    expect(l.delivered().some((m) => m.includes(`Subject: ${subject}`))).to.equal(true);
    expect(await l.queue('client')).to.match(/Mail queue is empty/);
  });

  it('cleanup() stops every lab process and removes its /etc/hosts line', async function () {
    const l = lab!;
    const pids = l.processes();
    expect(pids.length, 'two masters, their children and the sink').to.be.at.least(5);
    await l.cleanup();
    expect(pids.filter(isAlive), 'lab processes still running').to.deep.equal([]);
    expect(l.processes()).to.deep.equal([]);
    expect(fs.readFileSync('/etc/hosts', 'utf8')).to.not.include(l.root);
    expect(fs.existsSync(l.root)).to.equal(false);
    await l.cleanup(); // idempotent
  });
});

describe('e2e: private sshd', function () {
  let sshd: Sshd | undefined;
  let work: string | undefined;

  before(async function () {
    requirePrerequisites(this, sshdPrerequisites());
    sshd = await startSshd();
    work = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'ptr-sshd-test-'));
  });

  after(async function () {
    await sshd?.stop();
    if (work) await fs.promises.rm(work, { recursive: true, force: true });
  });

  it('runs a command over ssh with strict host key checking', async function () {
    const s = sshd!;
    const r = await execa('ssh', [...s.sshOptions, s.target, 'true'], { reject: false, all: true, timeout: 30_000 });
    expect(r.exitCode, `${r.all}\n${s.log()}`).to.equal(0);
  });

  it('copies a file with rsync -e "ssh …"', async function () {
    const s = sshd!;
    const src = path.join(work!, 'src.txt');
    const dest = path.join(work!, 'dest');
    await fs.promises.mkdir(dest);
    const content = `rsync ${Math.random()}\n`;
    await fs.promises.writeFile(src, content);
    const r = await execa('rsync', ['-a', '-e', s.sshCommand, src, `${s.target}:${dest}/`],
      { reject: false, all: true, timeout: 60_000 });
    expect(r.exitCode, `${r.all}\n${s.log()}`).to.equal(0);
    expect(await fs.promises.readFile(path.join(dest, 'src.txt'), 'utf8')).to.equal(content);
  });

  it('stop() ends sshd', async function () {
    const s = sshd!;
    expect(isAlive(s.pid)).to.equal(true);
    await s.stop();
    expect(isAlive(s.pid)).to.equal(false);
    await s.stop(); // idempotent
  });
});
