// The multi-host lab (test/support/hosts), deployed as root: stock Debian hosts in their own
// namespaces, Postfix configured by dpkg-reconfigure, DNS from the lab's name server, the clients'
// port 25 blocked. The whole story from init to revoke, add-client, renew and a missing DNS record,
// each step asserted on mailboxes, SMTP replies and log lines.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { requirePrerequisites } from '../support/lab.js';
import { createHostsLab, type HostsLab, type LabHost } from '../support/hosts/lab.js';
import { hostsLabPrerequisites } from '../support/hosts/prereq.js';
import { delivered, explain, failures, inMailbox, initProject, json, ok, reloads, sendMail, swaksIn, type CheckJson, type DeployJson } from '../support/hosts/story.js';

describe('e2e hosts lab: stock Debian hosts, deployed as root', function () {
  this.timeout(240_000);
  let lab: HostsLab | undefined;
  let relay: LabHost;
  let mailhost: LabHost;
  let backup: LabHost;
  let newhost: LabHost;

  before(async function () {
    requirePrerequisites(this, hostsLabPrerequisites());
    lab = await createHostsLab({ domain: 'example.test', relays: ['relayhost'], clients: ['mailhost', 'backup', 'newhost'] });
    relay = lab.host('relayhost');
    [mailhost, backup, newhost] = ['mailhost', 'backup', 'newhost'].map((n) => lab!.host(n)) as [LabHost, LabHost, LabHost];
    await initProject(lab, ['mailhost', 'backup']);
  });
  after(async () => {
    await lab?.teardown();
  });

  it('init → build → deploy → check --live: every check OK', async () => {
    await ok(lab!, ['build']);
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay.fqdn, 'updated'], [mailhost.fqdn, 'updated'], [backup.fqdn, 'updated']]);
    const c = json<CheckJson>(await lab!.ws.cli(['check', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
    const live = c.hosts.flatMap((h) => h.checks).filter((x) => x.name.startsWith('live STARTTLS'));
    expect(live).to.have.length(2);
    for (const l of live) expect(l.actual).to.match(/^Verified TLS connection established/);
    const key = fs.statSync(path.join(mailhost.dir, 'etc/postfix-tls-based-relaying/smtp-client', `${mailhost.fqdn}.key.pem`));
    expect([key.mode & 0o777, key.uid, key.gid]).to.deep.equal([0o600, 0, 0]);
    expect(fs.existsSync(path.join(relay.dir, 'etc/postfix-tls-based-relaying'))).to.equal(true);
  });

  it('mail from each client reaches the destination only through the relay, over verified TLS', async () => {
    for (const client of [mailhost, backup]) {
      const since = { client: client.postfix!.mark(), relay: relay.postfix!.mark() };
      const subject = await sendMail(lab!, client);
      const msg = await delivered(lab!, subject);
      expect(msg).to.match(new RegExp(`Received: from ${relay.fqdn.replace(/\./g, '\\.')} `));
      await client.postfix!.waitForLog(new RegExp(`Verified TLS connection established to ${relay.fqdn}\\[${relay.ip}\\]:2500`), { since: since.client });
      await client.postfix!.waitForLog(/relay=relayhost\.example\.test\[[\d.]+\]:2500, .*status=sent/, { since: since.client });
      await relay.postfix!.waitForLog(new RegExp(`Trusted TLS connection established from ${client.fqdn}\\[${client.ip}\\]`), { since: since.relay });
    }
  });

  it('a client cannot reach port 25 directly (the ISP block)', async () => {
    const r = await swaksIn(mailhost, ['--server', `mx.${lab!.destDomain}:25`, '--to', `${lab!.destUser}@${lab!.destDomain}`, '--quit-after', 'CONNECT']);
    expect(r.code).to.not.equal(0);
    expect(r.output).to.match(/Connection refused/);
  });

  it('no client certificate: the relay refuses the mail; its stock port 25 still refuses relaying', async () => {
    const noCert = await swaksIn(mailhost, ['--server', `${relay.fqdn}:2500`, '--tls', '--from', `root@${mailhost.fqdn}`, '--to', `${lab!.destUser}@${lab!.destDomain}`, '--header', 'Subject: no-cert']);
    expect(noCert.code).to.not.equal(0);
    expect(noCert.output).to.not.match(/^<~? 250 2\.0\.0 Ok: queued/m);
    const port25 = await swaksIn(lab!.host('admin'), ['--server', `${relay.fqdn}:25`, '--from', 'x@admin.example.test', '--to', `${lab!.destUser}@${lab!.destDomain}`, '--header', 'Subject: port25']);
    expect(port25.output).to.match(/^<\** 454 4\.7\.1 <alice@dest\.test>: Relay access denied/m);
    await new Promise((r) => setTimeout(r, 500));
    expect(inMailbox(lab!, 'no-cert') || inMailbox(lab!, 'port25')).to.equal(false);
  });

  it('a second deploy changes nothing and reloads nothing', async () => {
    const before = [relay, mailhost, backup].map(reloads);
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.map((h) => h.state)).to.deep.equal(['unchanged', 'unchanged', 'unchanged']);
    expect([relay, mailhost, backup].map(reloads)).to.deep.equal(before);
  });

  it('the relay\'s TLS floor: sslscan finds nothing below TLS 1.2 and no cipher below HIGH, and mail still relays', async () => {
    const ws = lab!.all.find((h) => h.role === 'workstation')!;
    const scan = await ws.keeper.run(['sslscan', '--no-colour', '--starttls-smtp', `${relay.fqdn}:2500`], { check: false });
    const out = scan.stdout;
    expect(out, out).to.match(/TLSv1\.2\s+enabled/);
    for (const p of ['SSLv2', 'SSLv3', 'TLSv1.0', 'TLSv1.1']) expect(out, out).to.match(new RegExp(`${p.replace('.', '\\.')}\\s+disabled`));
    const accepted = [...out.matchAll(/^(?:Preferred|Accepted)\s+(TLSv[\d.]+)\s+\d+ bits\s+(\S+)/gm)].map((m) => [m[1]!, m[2]!]);
    expect(accepted.length, out).to.be.greaterThan(0);
    const high = new Set((await ws.keeper.run(['openssl', 'ciphers', 'HIGH:@SECLEVEL=0'])).stdout.trim().split(':'));
    const weak = accepted.filter(([proto, c]) => proto !== 'TLSv1.3' && !high.has(c!));
    expect(weak, out).to.deep.equal([]);
    expect(accepted.every(([proto]) => proto === 'TLSv1.2' || proto === 'TLSv1.3'), out).to.equal(true);
    await delivered(lab!, await sendMail(lab!, mailhost));
  });

  it('the relay name missing from DNS (only in the client\'s /etc/hosts): check FAILs naming it; the DNS record back: OK', async () => {
    const records = new Map(lab!.records);
    records.delete(relay.fqdn);
    await lab!.dns.setRecords(records);
    fs.appendFileSync(path.join(mailhost.dir, 'etc/hosts'), `${relay.ip}\t${relay.fqdn}\n`);
    try {
      const c = json<CheckJson>(await lab!.ws.cli(['check', 'client', '--live', '--json']));
      expect(c.ok).to.equal(false);
      const bad = c.hosts.flatMap((h) => h.checks).filter((x) => !x.ok);
      expect(bad.map((x) => x.name)).to.include(`relay ${relay.fqdn} resolves as Postfix looks it up (smtp_host_lookup = dns)`);
      expect(bad.find((x) => x.name.startsWith('relay '))!.actual).to.match(/not found by dns; it is found by the system resolver .*add a DNS record for relayhost\.example\.test, or set smtp_host_lookup = dns, native on the client \(smtp_client_host_lookup := dns, native in settings\.mk/);
      expect(bad.some((x) => x.name.startsWith('live STARTTLS'))).to.equal(true);
    } finally {
      await lab!.dns.setRecords(lab!.records);
    }
    const c = json<CheckJson>(await lab!.ws.cli(['check', 'client', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
  });

  it('revoke a client: deploy skips it with a line, its mail is refused with 554 and not delivered', async () => {
    await ok(lab!, ['revoke', 'backup']);
    const r = await ok(lab!, ['deploy']);
    expect(r.stdout + r.stderr).to.match(/backup\.example\.test: skipped: its certificate is revoked/);
    const audit = fs.readFileSync(path.join(lab!.ws.projectDir, 'audit.log'), 'utf8').split('\n').filter((l) => l.includes('backup.example.test'));
    const deploysBefore = audit.length;
    const since = backup.postfix!.mark();
    const subject = await sendMail(lab!, backup);
    await backup.postfix!.waitForLog(/said: 554 5\.7\.1 <alice@dest\.test>: Recipient address rejected: Access denied/, { since });
    expect(inMailbox(lab!, subject)).to.equal(false);
    const dc = json<DeployJson>(await ok(lab!, ['deploy', 'client', '--json']));
    expect(dc.hosts.map((h) => [h.fqdn, h.state, h.error])).to.deep.include([backup.fqdn, 'skipped', 'revoked']);
    expect(fs.readFileSync(path.join(lab!.ws.projectDir, 'audit.log'), 'utf8').split('\n').filter((l) => l.includes('deploy-rsync:backup.example.test')).length).to.equal(audit.filter((l) => l.includes('deploy-rsync:backup.example.test')).length);
    expect(deploysBefore).to.be.greaterThan(0);
  });

  it('add-client of a third host, then deploy: its mail relays', async () => {
    await ok(lab!, ['add-client', 'newhost']);
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.find((h) => h.fqdn === newhost.fqdn)!.state).to.equal('updated');
    const since = relay.postfix!.mark();
    await delivered(lab!, await sendMail(lab!, newhost));
    await relay.postfix!.waitForLog(/Trusted TLS connection established from newhost\.example\.test/, { since });
  });

  it('renew one client, then deploy client of that one only: it relays with the new certificate', async () => {
    await ok(lab!, ['renew', 'mailhost']);
    const d = json<DeployJson>(await ok(lab!, ['deploy', 'client', 'mailhost', '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[mailhost.fqdn, 'updated']]);
    await delivered(lab!, await sendMail(lab!, mailhost));
    const c = json<CheckJson>(await lab!.ws.cli(['check', 'client', '--live', '--json']));
    expect(c.hosts.find((h) => h.fqdn === mailhost.fqdn)!.ok, failures(c)).to.equal(true);
  });
});
