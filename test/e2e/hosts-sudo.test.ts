// The multi-host lab with root logins forbidden: deploy and check as an admin user through sudo, with
// exactly the sudoers lines `instructions` prints; a sudo that wants a password; a host without rsync.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { hostsLabPrerequisites, requirePrerequisites } from '../support/prereq.js';
import { hideProgram, unhidePrograms } from '../support/hosts/host-fs.js';
import { createHostsLab, type HostsLab, type LabHost } from '../support/hosts/lab.js';
import { delivered, explain, failures, initProject, json, ok, reloads, sendMail, type CheckJson, type DeployJson } from '../support/hosts/story.js';

const SUDO_PASSWORD = 'sudo pass 0815 for deploy';

describe('e2e hosts lab: deploy as a sudo user, root login forbidden', function () {
  this.timeout(240_000);
  let lab: HostsLab | undefined;
  let relay: LabHost;
  let mailhost: LabHost;
  let sudoers: Map<string, string[]>;
  const snapshot = new Map<string, string>();
  const postconfNM = async (h: LabHost) => `${await h.postfix!.postconf(['-n'])}---\n${await h.postfix!.postconf(['-M'])}`;

  before(async function () {
    requirePrerequisites(this, hostsLabPrerequisites());
    lab = await createHostsLab({ domain: 'example.test', relays: ['relayhost'], clients: ['mailhost'], admin: { user: 'deploy', forbidRoot: true } });
    relay = lab.host('relayhost');
    mailhost = lab.host('mailhost');
    for (const h of [relay, mailhost]) snapshot.set(h.fqdn, await postconfNM(h));
    await initProject(lab, ['mailhost'], ['smtp_client_ssh_user := deploy', 'smtpd_server_ssh_user := deploy']);
    await ok(lab, ['build']);
  });
  after(async () => {
    await lab?.teardown();
  });

  it('root cannot log in; without sudoers lines deploy fails in one line naming host, user and the sudoers line', async () => {
    const root = await lab!.ws.keeper.run(['ssh', '-o', 'BatchMode=yes', `root@${relay.fqdn}`, 'true'], { env: lab!.ws.env, check: false });
    expect(root.stderr).to.match(/Permission denied \(publickey/);
    const r = await lab!.ws.cli(['deploy', 'server']);
    expect(r.code, explain(r)).to.equal(1);
    const line = r.stderr.split('\n').find((l) => l.includes(relay.fqdn) && /sudo/.test(l));
    expect(line, explain(r)).to.match(/relayhost\.example\.test: sudo as deploy@relayhost\.example\.test .*\/etc\/sudoers\.d\/postfix-tls-relay.*deploy ALL=\(root\) NOPASSWD: \/usr\/bin\/rsync /);
    expect(fs.existsSync(path.join(relay.dir, 'etc/postfix-tls-based-relaying'))).to.equal(false);
  });

  it('with the sudoers lines of `instructions`: deploy, check --live all OK, files root-owned, nothing left staged', async () => {
    const inst = json<{ hosts: { fqdn: string; sudoers: string[] }[] }>(await ok(lab!, ['instructions', '--json']));
    sudoers = new Map(inst.hosts.map((h) => [h.fqdn, h.sudoers]));
    for (const h of [relay, mailhost]) {
      const lines = sudoers.get(h.fqdn)!;
      expect(lines.length).to.be.greaterThan(3);
      for (const l of lines) expect(l).to.match(/^deploy ALL=\(root\) NOPASSWD: \/\S+ /);
      await lab!.setSudoers(h, 'deploy', lines.join('\n'));
    }
    const text = (await ok(lab!, ['instructions'])).stdout;
    expect(text).to.include(sudoers.get(relay.fqdn)![0]);
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.map((h) => h.state)).to.deep.equal(['updated', 'updated']);
    const key = fs.statSync(path.join(mailhost.dir, 'etc/postfix-tls-based-relaying/smtp-client', `${mailhost.fqdn}.key.pem`));
    expect([key.mode & 0o777, key.uid, key.gid]).to.deep.equal([0o600, 0, 0]);
    const stage = path.join(mailhost.dir, 'home/deploy/.postfix-tls-relay/stage');
    const staged = fs.existsSync(stage) ? fs.readdirSync(stage, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(stage, f)).isFile()) : [];
    expect(staged).to.deep.equal([]);
    const c = json<CheckJson>(await lab!.ws.cli(['check', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
    const audit = fs.readFileSync(path.join(lab!.ws.projectDir, 'audit.log'), 'utf8');
    expect(audit).to.include('sudo -n -- rsync');
  });

  it('mail relays; a second deploy as the sudo user changes nothing and reloads nothing', async () => {
    await delivered(lab!, await sendMail(lab!, mailhost));
    await relay.postfix!.waitForLog(/Trusted TLS connection established from mailhost\.example\.test/);
    const before = [relay, mailhost].map(reloads);
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.map((h) => h.state)).to.deep.equal(['unchanged', 'unchanged']);
    expect([relay, mailhost].map(reloads)).to.deep.equal(before);
  });

  it('a sudo that wants a password: one line without -K; with -K the password goes to sudo on stdin only', async () => {
    await mailhost.keeper.run(['chpasswd'], { input: `deploy:${SUDO_PASSWORD}\n` });
    await lab!.setSudoers(mailhost, 'deploy', sudoers.get(mailhost.fqdn)!.map((l) => l.replace('NOPASSWD: ', '')).join('\n'));
    const no = await lab!.ws.cli(['deploy', 'client']);
    expect(no.code, explain(no)).to.equal(1);
    expect(no.stderr).to.match(/mailhost\.example\.test: sudo as deploy@mailhost\.example\.test wants a password; run with --ask-sudo-pass \(-K\)/);
    const yes = await lab!.ws.cli(['deploy', 'client', '-K', '--json'], { input: `${SUDO_PASSWORD}\n` });
    expect(yes.code, explain(yes)).to.equal(0);
    expect(json<DeployJson>(yes).hosts.map((h) => h.state)).to.deep.equal(['unchanged']);
    const c = await lab!.ws.cli(['check', 'client', '-K'], { input: `${SUDO_PASSWORD}\n` });
    expect(c.code, explain(c)).to.equal(0);
    for (const f of ['audit.log', 'settings.mk']) expect(fs.readFileSync(path.join(lab!.ws.projectDir, f), 'utf8')).to.not.include(SUDO_PASSWORD);
    await lab!.setSudoers(mailhost, 'deploy', sudoers.get(mailhost.fqdn)!.join('\n'));
  });

  it('a host without rsync: one line naming the program and its Debian package, nothing sent', async () => {
    await hideProgram(mailhost.keeper, mailhost.dir, 'rsync');
    try {
      const r = await lab!.ws.cli(['deploy', 'client']);
      expect(r.code, explain(r)).to.equal(1);
      expect(r.stderr).to.match(/^(postfix-tls-relay: )?mailhost\.example\.test: deploy@mailhost\.example\.test has no rsync \(Debian package rsync\); install it there first \(apt-get install rsync\), nothing was sent$/m);
    } finally {
      await unhidePrograms(mailhost.keeper, mailhost.dir);
    }
  });

  it('undeploy through sudo with the same sudoers lines: postconf -n and -M as before the first deploy, the files gone', async () => {
    const r = await ok(lab!, ['undeploy', 'mailhost', 'relayhost']);
    expect(r.stdout.trim().split('\n').map((l) => l.replace(/: \d+ change\(s\)/, ''))).to.deep.equal([
      `${mailhost.fqdn}: undeployed; confirmed: main.cf and master.cf as recorded before the first deploy, the tool's files gone`,
      `${relay.fqdn}: undeployed; confirmed: main.cf and master.cf as recorded before the first deploy, the tool's files gone`,
    ]);
    for (const h of [relay, mailhost]) {
      expect(await postconfNM(h), h.fqdn).to.equal(snapshot.get(h.fqdn));
      expect(fs.existsSync(path.join(h.dir, 'etc/postfix-tls-based-relaying')), h.fqdn).to.equal(false);
    }
    expect(fs.readFileSync(path.join(lab!.ws.projectDir, 'audit.log'), 'utf8')).to.include('--undeploy');
  });
});
