// One ssh connection per host per run, in the multi-host lab: each host's sshd sees exactly one new TCP
// connection per deploy or check (counted by nftables on the host, SYNs to port 22), a host with nothing
// to change costs one command beyond the connection, and nothing of a run is left behind: no process
// the run started (every process of the workstation's PID namespace is compared by PID before and after)
// and no socket directory — after a clean run, a failed host, a SIGTERM, and a kill -9 (the next run
// removes the directory the killed one could not).
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { hostsLabPrerequisites, requirePrerequisites } from '../support/prereq.js';
import { hideProgram, unhidePrograms } from '../support/hosts/host-fs.js';
import { createHostsLab, type HostsLab, type LabHost } from '../support/hosts/lab.js';
import { explain, initProject, json, ok, type CheckJson, type DeployJson } from '../support/hosts/story.js';

const COUNT = "nft add table inet ptrssh; nft add chain inet ptrssh in '{ type filter hook input priority 0; }'; nft add rule inet ptrssh in tcp dport 22 tcp flags '& (syn | ack) == syn' counter";

/** Every PID below `pid` (children, their children …), read from /proc: the processes of a keeper's namespace. */
function descendants(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e hosts lab: one ssh connection per host per run, nothing left behind', function () {
  this.timeout(240_000);
  let lab: HostsLab | undefined;
  let hosts: LabHost[];
  let relay: LabHost;
  let mailhost: LabHost;
  let socketsBase: string;
  let auditFile: string;

  const syns = async (h: LabHost) => Number(/counter packets (\d+)/.exec((await h.keeper.run(['nft', 'list', 'chain', 'inet', 'ptrssh', 'in'])).stdout)?.[1]);
  const synsAll = () => Promise.all(hosts.map(syns));
  const wsProcesses = () => new Set(descendants(lab!.ws.keeper.pid));
  const leftDirs = () => (fs.existsSync(socketsBase) ? fs.readdirSync(socketsBase) : []);
  const auditSince = (n: number) => fs.readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).slice(n).map((l) => JSON.parse(l) as { start: string; durationMs: number; step: string; command: string; exit: number });
  const auditLength = () => (fs.existsSync(auditFile) ? fs.readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).length : 0);

  /** Runs `fn` and asserts that no process it started in the workstation is left and no socket directory. */
  async function leavesNothing<T>(fn: () => Promise<T>): Promise<T> {
    const before = wsProcesses();
    const r = await fn();
    // A master ends with its run; give the kernel a moment to reap what the run ended.
    let extra: number[] = [];
    for (let i = 0; i < 50; i++) {
      extra = [...wsProcesses()].filter((p) => !before.has(p));
      if (extra.length === 0) break;
      await sleep(100);
    }
    expect(extra.map((p) => `${p}: ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`), 'processes of the run still there').to.deep.equal([]);
    return r;
  }

  before(async function () {
    requirePrerequisites(this, hostsLabPrerequisites());
    lab = await createHostsLab({ domain: 'example.test', relays: ['relayhost'], clients: ['mailhost', 'backup'] });
    relay = lab.host('relayhost');
    mailhost = lab.host('mailhost');
    hosts = [relay, mailhost, lab.host('backup')];
    for (const h of hosts) await h.keeper.sh(COUNT);
    socketsBase = path.join(path.dirname(lab.ws.projectDir), '.cache', 'postfix-tls-relay');
    auditFile = path.join(lab.ws.projectDir, 'audit.log');
    await initProject(lab, ['mailhost', 'backup']);
    await ok(lab, ['build', '-q']);
  });
  after(async () => {
    await lab?.teardown();
  });

  it('deploy: one connection per host, the commands ride it (audit.log shows them so), then it is closed and its directory removed', async () => {
    const before = await synsAll();
    const from = auditLength();
    const d = await leavesNothing(async () => json<DeployJson>(await ok(lab!, ['deploy', '--json', '--ssh-option', 'ConnectTimeout=20'])));
    expect(d.hosts.map((h) => h.state)).to.deep.equal(['updated', 'updated', 'updated']);
    expect((await synsAll()).map((n, i) => n - before[i]!)).to.deep.equal([1, 1, 1]);
    expect(leftDirs()).to.deep.equal([]);
    const audit = auditSince(from);
    for (const h of hosts) {
      const mine = audit.filter((a) => a.step.endsWith(`:${h.fqdn}`) || a.step.endsWith(`root@${h.fqdn}:22`));
      const master = mine.find((a) => a.step.startsWith('ssh-connection:'))!;
      // --ssh-option still applies (to the connection), the socket in a per-run directory under ~/.cache.
      expect(master.command).to.match(/^ssh -T -p 22 -o ControlMaster=yes -o ControlPersist=no -o ControlPath=\/root\/\.cache\/postfix-tls-relay\/ssh-\d+-\w+\/\d+ -o ConnectTimeout=20 /);
      const socket = /ControlPath=(\S+)/.exec(master.command)![1]!;
      const steps = mine.filter((a) => a.step.startsWith('deploy-'));
      expect(steps.map((a) => a.step.split(':')[0])).to.deep.equal(['deploy-survey', 'deploy-rsync', 'deploy-apply']);
      for (const a of steps) expect(a.command).to.include(`-o ControlMaster=no -o ControlPath=${socket} `);
      expect(mine.find((a) => a.step.startsWith('ssh-close:'))).to.deep.include({ command: `ssh -o ControlPath=${socket} -O exit root@${h.fqdn}`, exit: 0 });
    }
  });

  it('a second deploy: one connection and one command per host, nothing sent, nothing reloaded', async () => {
    const before = await synsAll();
    const from = auditLength();
    const d = await leavesNothing(async () => json<DeployJson>(await ok(lab!, ['deploy', '--json', '--jobs', '1'])));
    expect(d.hosts.map((h) => [h.state, h.files.length, h.reloaded])).to.deep.equal([['unchanged', 0, false], ['unchanged', 0, false], ['unchanged', 0, false]]);
    expect((await synsAll()).map((n, i) => n - before[i]!)).to.deep.equal([1, 1, 1]);
    expect(auditSince(from).filter((a) => a.step.startsWith('deploy-')).map((a) => a.step)).to.deep.equal(hosts.map((h) => `deploy-survey:${h.fqdn}`));
    expect(leftDirs()).to.deep.equal([]);
  });

  it('deploy --jobs 3: the slots the relay leaves free log in to the clients meanwhile; nothing runs on a client before the relay is done', async () => {
    const before = await synsAll();
    const from = auditLength();
    await ok(lab!, ['build', '-q', '--set', 'smtp_client_tls_loglevel=2']); // a change on every client
    const d = await leavesNothing(async () => json<DeployJson>(await ok(lab!, ['deploy', '--json', '--jobs', '3', '--set', 'smtp_client_tls_loglevel=2'])));
    expect(d.hosts.map((h) => h.state)).to.deep.equal(['unchanged', 'updated', 'updated']);
    expect((await synsAll()).map((n, i) => n - before[i]!)).to.deep.equal([1, 1, 1]);
    const audit = auditSince(from);
    const at = (a: { start: string }) => Date.parse(a.start);
    const relayDone = Math.max(...audit.filter((a) => a.step.startsWith('deploy-') && a.step.endsWith(`:${relay.fqdn}`)).map((a) => at(a) + a.durationMs));
    const relaySurvey = audit.find((a) => a.step === `deploy-survey:${relay.fqdn}`)!;
    for (const c of hosts.slice(1)) {
      const login = audit.find((a) => a.step === `ssh-connection:root@${c.fqdn}:22`)!;
      expect(at(login), `${c.fqdn}: its login started with the relay's survey`).to.be.at.most(at(relaySurvey));
      const first = audit.find((a) => a.step.startsWith('deploy-') && a.step.endsWith(`:${c.fqdn}`))!;
      expect(first.step).to.equal(`deploy-survey:${c.fqdn}`);
      expect(at(first), `${c.fqdn}: its first command after the relay's last`).to.be.at.least(relayDone - 1); // ISO times: whole ms
    }
    await ok(lab!, ['build', '-q']);
    await ok(lab!, ['deploy', '-q']);
    expect(leftDirs()).to.deep.equal([]);
  });

  it('check --live: one connection per host', async () => {
    const before = await synsAll();
    const c = await leavesNothing(async () => json<CheckJson>(await ok(lab!, ['check', '--live', '--json'])));
    expect(c.ok).to.equal(true);
    expect((await synsAll()).map((n, i) => n - before[i]!)).to.deep.equal([1, 1, 1]);
    expect(leftDirs()).to.deep.equal([]);
  });

  it('a failed host (no rsync there) and an unreachable one: the others deploy, nothing is left behind', async () => {
    await hideProgram(mailhost.keeper, mailhost.dir, 'rsync');
    await lab!.host('backup').keeper.sh("nft add table inet ptrblock; nft add chain inet ptrblock in '{ type filter hook input priority 0; }'; nft add rule inet ptrblock in tcp dport 22 reject with tcp reset");
    try {
      fs.appendFileSync(path.join(lab!.ws.projectDir, 'settings.mk'), 'smtp_client_tls_loglevel := 2\n');
      await ok(lab!, ['build', '-q']);
      const r = await leavesNothing(() => lab!.ws.cli(['deploy', '--json']));
      expect(r.code, explain(r)).to.equal(1);
      expect(json<DeployJson>(r).hosts.map((h) => h.state)).to.deep.equal(['unchanged', 'failed', 'failed']);
      expect(r.stderr).to.match(/mailhost\.example\.test: root@mailhost\.example\.test has no rsync/);
      expect(r.stderr).to.match(/backup\.example\.test: cannot reach root@backup\.example\.test port 22: .*Connection refused/);
      expect(leftDirs()).to.deep.equal([]);
    } finally {
      await unhidePrograms(mailhost.keeper, mailhost.dir);
      await lab!.host('backup').keeper.sh('nft delete table inet ptrblock');
    }
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.map((h) => h.state)).to.deep.equal(['unchanged', 'updated', 'updated']);
  });

  /** Starts deploy, waits until its first connection is up, then sends `signal` to the CLI's node process (by its PID). */
  async function interrupt(signal: NodeJS.Signals): Promise<{ dirMode: number; baseMode: number; code: number | null }> {
    const from = auditLength();
    const child = lab!.ws.spawnCli(['deploy', '--jobs', '1']);
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    let connected = false;
    for (let i = 0; i < 600 && !connected; i++) {
      connected = auditSince(from).some((a) => a.step.startsWith('ssh-connection:') && a.exit === 0);
      if (!connected) await sleep(20);
    }
    expect(connected, 'a connection was opened').to.equal(true);
    const dirs = leftDirs();
    expect(dirs).to.have.length(1);
    const dirMode = fs.statSync(path.join(socketsBase, dirs[0]!)).mode & 0o777;
    const baseMode = fs.statSync(socketsBase).mode & 0o777;
    // nsenter forks the CLI: the node process is its child.
    const node = descendants(child.pid!).find((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('postfix-tls-relay'))!;
    expect(node).to.be.a('number');
    process.kill(node, signal);
    return { dirMode, baseMode, code: await exited };
  }

  it('interrupted (SIGTERM): the connections are closed and the socket directory (0700, in a 0700 parent) removed', async () => {
    fs.appendFileSync(path.join(lab!.ws.projectDir, 'settings.mk'), 'smtp_client_tls_loglevel := 1\n');
    await ok(lab!, ['build', '-q']);
    const r = await leavesNothing(() => interrupt('SIGTERM'));
    expect([r.dirMode, r.baseMode]).to.deep.equal([0o700, 0o700]);
    expect(r.code).to.not.equal(0);
    expect(leftDirs()).to.deep.equal([]);
  });

  it('killed (SIGKILL): its masters end with it (their input closes); the next run removes the directory it left', async () => {
    const r = await leavesNothing(() => interrupt('SIGKILL'));
    expect(r.code).to.not.equal(0);
    expect(leftDirs()).to.have.length(1);
    const d = await leavesNothing(async () => json<DeployJson>(await ok(lab!, ['deploy', '--json'])));
    expect(d.hosts.every((h) => h.state !== 'failed')).to.equal(true);
    expect(leftDirs()).to.deep.equal([]);
  });
});
