// Two relays in the multi-host lab (stock Debian hosts, DNS, the clients' port 25 blocked): mail goes
// through the first, through the second while the first is down, a revoked client is refused by both,
// a rekeyed client relays through both during and after its rotation. On fresh labs: deploy --jobs 3
// does what --jobs 1 does, and the exported Ansible playbook brings the hosts to the same state.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { hostsLabPrerequisites, requirePrerequisites } from '../support/prereq.js';
import { createHostsLab, type HostsLab, type LabHost } from '../support/hosts/lab.js';
import { WS_PROJECT } from '../support/hosts/workstation.js';
import { esc, explain, failures, initProject, json, ok, relayedBy, sendMail, type CheckJson, type DeployJson } from '../support/hosts/story.js';

const SPEC = { domain: 'example.test', relays: ['relay1', 'relay2'], clients: ['mailhost', 'backup'] };

async function newLab(): Promise<HostsLab> {
  const lab = await createHostsLab(SPEC);
  try {
    await initProject(lab, ['mailhost', 'backup'], ['smtpd_server_hostnames := relay2']);
    await ok(lab, ['build']);
    return lab;
  } catch (e) {
    await lab.teardown();
    throw e;
  }
}

/** What a deploy did to each host, without timings: the same on two fresh labs. */
const outcome = (d: DeployJson) => d.hosts.map((h) => ({ fqdn: h.fqdn, state: h.state, files: h.files.map((f) => f.path).sort(), applyChanges: h.applyChanges }));
/** Each check by host and name, with its verdict (the values differ: other keys, other addresses). */
const verdicts = (c: CheckJson) => c.hosts.flatMap((h) => h.checks.map((x) => `${h.fqdn} ${x.name}: ${x.ok ? 'OK' : 'FAIL'}`));

async function stopPostfix(h: LabHost): Promise<void> {
  await h.keeper.run(['/etc/init.d/postfix', 'stop']);
}
async function startPostfix(h: LabHost): Promise<void> {
  await h.keeper.run(['/etc/init.d/postfix', 'start']);
}

/** Through the first relay; then, with the first relay's Postfix stopped, through the second. */
async function throughBoth(lab: HostsLab, client: LabHost): Promise<void> {
  const [first, second] = lab.relays as [LabHost, LabHost];
  await relayedBy(lab, client, first);
  await stopPostfix(first);
  try {
    await relayedBy(lab, client, second);
  } finally {
    await startPostfix(first);
  }
}

let freshDeploy: ReturnType<typeof outcome> | undefined;
let freshCheck: string[] | undefined;

describe('e2e hosts lab: two relays, failover, revoke and rekey on both', function () {
  this.timeout(300_000);
  let lab: HostsLab | undefined;
  let mailhost: LabHost;
  let backup: LabHost;
  let relay1: LabHost;
  let relay2: LabHost;

  before(async function () {
    requirePrerequisites(this, hostsLabPrerequisites());
    lab = await newLab();
    [relay1, relay2] = lab.relays as [LabHost, LabHost];
    [mailhost, backup] = lab.clients as [LabHost, LabHost];
  });
  after(async () => {
    await lab?.teardown();
  });

  it('deploy --jobs 1: both relays first, then the clients; check --live probes each client → each relay', async () => {
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--jobs', '1', '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.role, h.state])).to.deep.equal([
      [relay1.fqdn, 'server', 'updated'], [relay2.fqdn, 'server', 'updated'], [mailhost.fqdn, 'client', 'updated'], [backup.fqdn, 'client', 'updated'],
    ]);
    freshDeploy = outcome(d);
    const c = json<CheckJson>(await lab!.ws.cli(['check', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
    freshCheck = verdicts(c);
    const live = c.hosts.flatMap((h) => h.checks.map((x) => `${h.fqdn} ${x.name} ${x.actual}`)).filter((x) => x.includes('live STARTTLS'));
    expect(live).to.have.length(4);
    for (const client of [mailhost, backup]) {
      for (const relay of [relay1, relay2]) {
        expect(live.find((l) => l.startsWith(`${client.fqdn} live STARTTLS to [${relay.fqdn}]:2500`)), `${client.short} → ${relay.short}`).to.match(/Verified TLS connection established/);
      }
    }
    expect((await mailhost.postfix!.postconf(['-h', 'relayhost'])).trim()).to.equal(`[${relay1.fqdn}]:2500, [${relay2.fqdn}]:2500`);
    // Each relay presents its own certificate, which names it.
    for (const relay of [relay1, relay2]) {
      const cert = fs.readFileSync(path.join(relay.dir, 'etc/postfix-tls-based-relaying/smtpd-server', `${relay.fqdn}.crt.pem`), 'utf8');
      const text = (await lab!.ws.keeper.run(['openssl', 'x509', '-noout', '-ext', 'subjectAltName,extendedKeyUsage'], { input: cert })).stdout;
      expect(text).to.include(`DNS:${relay.fqdn}`).and.include('TLS Web Server Authentication');
    }
  });

  it('a second deploy, with --jobs 3, is unchanged everywhere; status shows each relay with the current allowlist', async () => {
    const r = await ok(lab!, ['deploy', '--jobs', '3']);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, -1)).to.deep.equal([relay1, relay2, mailhost, backup].map((h) => `${h.fqdn}: unchanged`));
    expect(lines.at(-1)).to.match(/^deploy: 4 host\(s\): 0 updated, 4 unchanged, 0 failed, 0 skipped \(--jobs 3, [\d.]+ s\)$/);
    const st = json<{ relays: { fqdn: string; allowlist: string }[] }>(await ok(lab!, ['status', '--json']));
    expect(st.relays.map((x) => [x.fqdn, x.allowlist])).to.deep.equal([[relay1.fqdn, 'current'], [relay2.fqdn, 'current']]);
  });

  it('mail relays through the first relay; with its Postfix stopped, the next mail goes through the second', async () => {
    await throughBoth(lab!, mailhost);
  });

  it('a rekeyed client relays through both relays during and after its rotation', async () => {
    const before = fs.readFileSync(path.join(lab!.ws.projectDir, 'etc/postfix/relay_clientcerts'), 'utf8');
    const oldEntry = before.split('\n').find((l) => l.endsWith(` ${mailhost.fqdn}`))!;
    await ok(lab!, ['renew', 'mailhost', '--rekey']);
    // The relays first: both list the old and the new key; the client still runs with the old one.
    const ds = json<DeployJson>(await ok(lab!, ['deploy', 'server', '--json']));
    expect(ds.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay1.fqdn, 'updated'], [relay2.fqdn, 'updated']]);
    for (const relay of [relay1, relay2]) expect(fs.readFileSync(path.join(relay.dir, 'etc/postfix/relay_clientcerts'), 'utf8')).to.include(oldEntry);
    await throughBoth(lab!, mailhost);
    // The client with its new key: the rotation ends, but the relays still list the old entry.
    const dc = await lab!.ws.cli(['deploy', 'client', 'mailhost', '--json']);
    expect(dc.code, explain(dc)).to.equal(0);
    expect(json<DeployJson & { rotationsFinished: string[] }>(dc).rotationsFinished).to.deep.equal([mailhost.fqdn]);
    expect(dc.stderr).to.match(/relay1\.example\.test, relay2\.example\.test still list the previous entries of mailhost\.example\.test/);
    const during = json<{ relays: { allowlist: string }[]; problems: string[] }>(await lab!.ws.cli(['status', '--json']));
    expect(during.relays.map((x) => x.allowlist)).to.deep.equal(['behind', 'behind']);
    await throughBoth(lab!, mailhost);
    // Complete once every relay has the new allowlist.
    await ok(lab!, ['deploy', 'server']);
    for (const relay of [relay1, relay2]) expect(fs.readFileSync(path.join(relay.dir, 'etc/postfix/relay_clientcerts'), 'utf8')).to.not.include(oldEntry);
    const after = json<{ relays: { allowlist: string }[] }>(await ok(lab!, ['status', '--json']));
    expect(after.relays.map((x) => x.allowlist)).to.deep.equal(['current', 'current']);
    await throughBoth(lab!, mailhost);
  });

  it('a revoked client is refused by both relays', async () => {
    await ok(lab!, ['revoke', 'backup']);
    const d = json<DeployJson>(await lab!.ws.cli(['deploy', '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay1.fqdn, 'updated'], [relay2.fqdn, 'updated'], [mailhost.fqdn, 'unchanged'], [backup.fqdn, 'skipped']]);
    for (const relay of [relay1, relay2]) {
      const since = { client: backup.postfix!.mark(), relay: relay.postfix!.mark() };
      if (relay === relay2) await stopPostfix(relay1);
      try {
        await sendMail(lab!, backup);
        await backup.postfix!.waitForLog(new RegExp(`relay=${esc(relay.fqdn)}\\[${esc(relay.ip)}\\]:2500, .*said: 554 5\\.7\\.1 <alice@dest\\.test>: Recipient address rejected: Access denied`), { since: since.client });
        await relay.postfix!.waitForLog(new RegExp(`NOQUEUE: reject: RCPT from ${esc(backup.fqdn)}\\[${esc(backup.ip)}\\]: 554 5\\.7\\.1`), { since: since.relay });
      } finally {
        if (relay === relay2) await startPostfix(relay1);
      }
    }
    // mailhost still relays through both.
    await throughBoth(lab!, mailhost);
  });

  it('a relay that cannot be reached fails alone in its phase and keeps every client back', async () => {
    await relay2.keeper.run(['/etc/init.d/ssh', 'stop']);
    try {
      const r = await lab!.ws.cli(['deploy', '--jobs', '3', '--json']);
      expect(r.code, explain(r)).to.equal(1);
      const d = json<DeployJson>(r);
      expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay1.fqdn, 'unchanged'], [relay2.fqdn, 'failed'], [mailhost.fqdn, 'skipped'], [backup.fqdn, 'skipped']]);
      expect(d.hosts[2]!.error).to.equal(`the relay ${relay2.fqdn} was not deployed, and a client must not use a certificate a relay may not trust yet`);
      expect(r.stderr).to.match(new RegExp(`${esc(relay2.fqdn)}: cannot reach root@${esc(relay2.fqdn)} port 22`));
    } finally {
      await relay2.keeper.run(['/etc/init.d/ssh', 'start']);
    }
  });

  it('a relay taken out of the settings leaves the clients\' relayhost on the next deploy', async () => {
    const set = ['--set', 'smtpd_server_hostnames='];
    await ok(lab!, ['build', ...set]);
    const d = json<DeployJson>(await lab!.ws.cli(['deploy', ...set, '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.include.members([[relay1.fqdn, 'unchanged'], [mailhost.fqdn, 'updated']]);
    expect(d.hosts.map((h) => h.fqdn)).to.not.include(relay2.fqdn);
    expect((await mailhost.postfix!.postconf(['relayhost'])).trim()).to.equal(`relayhost = [${relay1.fqdn}]:2500`);
    // The fallback list lives on the client's relay service only (main.cf keeps the host's own).
    expect((await mailhost.postfix!.postconf(['-P', 'postfix-tls-relay/unix/smtp_fallback_relay'])).trim()).to.equal('postfix-tls-relay/unix/smtp_fallback_relay =');
    await relayedBy(lab!, mailhost, relay1);
  });
});

describe('e2e hosts lab: fresh hosts with deploy --jobs 3, and with the exported Ansible playbook', function () {
  this.timeout(300_000);
  let lab: HostsLab | undefined;

  before(function () {
    requirePrerequisites(this, hostsLabPrerequisites());
  });
  afterEach(async () => {
    await lab?.teardown();
    lab = undefined;
  });

  it('deploy --jobs 3 on fresh hosts does what --jobs 1 did, and check --live gives the same result', async function () {
    if (!freshDeploy || !freshCheck) this.skip(); // needs the --jobs 1 run above
    lab = await newLab();
    const d = json<DeployJson>(await ok(lab, ['deploy', '--jobs', '3', '--json']));
    expect(outcome(d)).to.deep.equal(freshDeploy);
    const c = json<CheckJson>(await lab.ws.cli(['check', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
    expect(verdicts(c)).to.deep.equal(freshCheck);
    const again = json<DeployJson>(await ok(lab, ['deploy', '--jobs', '3', '--json']));
    expect(again.hosts.map((h) => h.state)).to.deep.equal(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
  });

  it('ansible-playbook brings fresh hosts to the state deploy makes; its second run reports changed=0 everywhere', async function () {
    this.timeout(540_000); // two playbook runs: Ansible starts Python on every host for every task
    lab = await newLab();
    await ok(lab, ['export', 'ansible', 'fleet']);
    const fleet = path.join(lab.ws.projectDir, 'fleet');
    const inventory = fs.readFileSync(path.join(fleet, 'inventory.yml'), 'utf8');
    expect(inventory).to.not.match(/PRIVATE KEY|ca\.key|-ca\.key\.pem/);
    const play = () => lab!.ws.keeper.run(['ansible-playbook', 'playbook.yml'], { cwd: `${WS_PROJECT}/fleet`, env: { ...lab!.ws.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' }, check: false, timeoutMs: 240_000 });
    const recap = (out: string) => new Map([...out.matchAll(/^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)].map((m) => [m[1]!, { changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]) }]));
    const first = await play();
    expect(first.code, `${first.stdout}\n${first.stderr}`).to.equal(0);
    // Relays before clients: the relays' play comes first.
    expect(first.stdout.indexOf('PLAY [relays')).to.be.lessThan(first.stdout.indexOf('PLAY [smtp clients'));
    const r1 = recap(first.stdout);
    expect([...r1.keys()].sort()).to.deep.equal(lab.all.filter((h) => h.role === 'relay' || h.role === 'client').map((h) => h.fqdn).sort());
    for (const [host, r] of r1) expect([host, r.changed > 0, r.failed, r.unreachable]).to.deep.equal([host, true, 0, 0]);
    const c = json<CheckJson>(await lab.ws.cli(['check', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
    if (freshCheck) expect(verdicts(c)).to.deep.equal(freshCheck);
    const second = await play();
    expect(second.code, second.stdout).to.equal(0);
    for (const [host, r] of recap(second.stdout)) expect([host, r.changed, r.failed]).to.deep.equal([host, 0, 0]);
    // The same state as deploy: deploy finds nothing to do.
    const d = json<DeployJson>(await ok(lab, ['deploy', '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal(lab.relays.concat(lab.clients).map((h) => [h.fqdn, 'unchanged']));
    await relayedBy(lab, lab.clients[0]!, lab.relays[0]!);
  });
});
