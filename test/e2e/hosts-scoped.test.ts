// The multi-host lab with a LAN mail host: a client's other deliveries keep the host's own TLS settings
// (the relay's policy and client certificate only on the way to the relays), a client deployed the old way
// (the relay's policy global in main.cf) is upgraded in place without losing the mail queued meanwhile, and
// `undeploy` gives the client and the relay back exactly the postconf -n / -M they had before the first deploy.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { hostsLabPrerequisites, requirePrerequisites } from '../support/prereq.js';
import { createHostsLab, type HostsLab, type LabHost } from '../support/hosts/lab.js';
import { delivered, esc, explain, failures, initProject, json, ok, relayedBy, sendMail, swaksIn, type CheckJson, type DeployJson } from '../support/hosts/story.js';

const LAN = 'lan.test';
const LAN_USER = 'alice';
const CERTS = 'etc/postfix-tls-based-relaying';

interface UndeployJson {
  ok: boolean;
  hosts: { fqdn: string; state: string; changes: number; leftovers: string[]; error: string | null; output: string[] }[];
}

let counter = 0;

describe('e2e hosts lab: the relay policy scoped to the relays, upgrade in place, undeploy', function () {
  this.timeout(300_000);
  let lab: HostsLab | undefined;
  let relay: LabHost;
  let office1: LabHost;
  let office2: LabHost;
  let lan: LabHost;
  const snapshot = new Map<string, { n: string; M: string }>();
  const postconfNM = async (h: LabHost) => ({ n: await h.postfix!.postconf(['-n']), M: await h.postfix!.postconf(['-M']) });

  /**
   * A mail from `from` to alice@lan.test: delivered to the LAN host, which saw no client certificate (with
   * `tls`, over STARTTLS: an Anonymous TLS connection in its log).
   */
  async function lanDelivery(from: LabHost, tls = true): Promise<void> {
    const since = { from: from.postfix!.mark(), lan: lan.postfix!.mark() };
    const subject = `lan ${from.short} ${Date.now()}-${counter++}`;
    await from.postfix!.send(`root@${from.fqdn}`, `${LAN_USER}@${LAN}`, subject);
    await from.postfix!.waitForLog(new RegExp(`relay=${esc(lan.fqdn)}\\[${esc(lan.ip)}\\]:25, .*status=sent`), { since: since.from });
    const deadline = Date.now() + 15_000;
    while (!lan.postfix!.mailbox(LAN_USER).includes(`Subject: ${subject}\n`)) {
      if (Date.now() > deadline) throw new Error(`"${subject}" not in ${LAN_USER}'s mailbox on ${lan.fqdn}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (tls) await lan.postfix!.waitForLog(new RegExp(`Anonymous TLS connection established from ${esc(from.fqdn)}\\[${esc(from.ip)}\\]`), { since: since.lan });
    expect(lan.postfix!.log().slice(since.lan), 'no client certificate shown to the LAN host').to.not.match(/(Untrusted|Trusted) TLS connection established from/);
    expect(from.postfix!.log().slice(since.from)).to.not.match(/Server certificate not verified|status=deferred/);
  }

  before(async function () {
    requirePrerequisites(this, hostsLabPrerequisites());
    lab = await createHostsLab({ domain: 'hq.test', relays: ['smarthost'], clients: ['office1', 'office2', 'office3'], lan: { domain: LAN, user: LAN_USER } });
    relay = lab.host('smarthost');
    [office1, office2] = ['office1', 'office2'].map((n) => lab!.host(n)) as [LabHost, LabHost];
    lan = lab.lan!;
    // Set up long before the relay: the LAN domain goes straight to the LAN mail host.
    for (const h of [office1, office2]) {
      await h.keeper.run(['postconf', '-e', `transport_maps = inline:{ ${LAN}=smtp:[${lan.fqdn}] }`]);
      await h.keeper.run(['postfix', 'reload']);
    }
    // office2 had a smarthost of its own (never reached: the ISP blocks port 25).
    await office2.keeper.run(['postconf', '-e', 'relayhost = [oldsmarthost.example]']);
    for (const h of [relay, office1]) snapshot.set(h.short, await postconfNM(h));
    await initProject(lab, ['office1', 'office2']);
  });
  after(async () => {
    await lab?.teardown();
  });

  it('before any deploy, the LAN mail goes over STARTTLS with the host\'s own settings', async () => {
    await lanDelivery(office1);
  });

  it('deploy: LAN mail still delivered over STARTTLS, no client certificate shown (Anonymous); internet mail only through the relay (Verified/Trusted); check --live OK', async () => {
    await ok(lab!, ['build']);
    const d = json<DeployJson & { hosts: { applyOutput: string[] }[] }>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay.fqdn, 'updated'], [office1.fqdn, 'updated'], [office2.fqdn, 'updated']]);
    // A relayhost of the host's own is replaced, with one line saying so (and none where there was none).
    expect(d.hosts[2]!.applyOutput.filter((l) => /relayhost/.test(l) && /replaced/.test(l))).to.deep.equal([
      'apply: main.cf: the host\'s own relayhost = [oldsmarthost.example] is replaced: all outbound mail goes through the relays (undeploy puts it back)',
    ]);
    expect(d.hosts[1]!.applyOutput.join('\n')).to.not.match(/replaced/);
    // main.cf: the routing only; the host's own TLS settings untouched.
    const n = await office1.postfix!.postconf(['-n']);
    expect(n).to.include('default_transport = postfix-tls-relay\n').and.include('smtp_tls_security_level = may\n');
    // The CA settings as this release's dpkg-reconfigure wrote them (Debian 12: CApath, Debian 13: CAfile).
    const own = (text: string) => text.split('\n').filter((l) => /^smtp_tls_(CApath|CAfile|chain_files|cert_file|key_file) =/.test(l));
    expect(own(snapshot.get(office1.short)!.n)).to.not.deep.equal([]);
    expect(own(n)).to.deep.equal(own(snapshot.get(office1.short)!.n));
    await lanDelivery(office1);
    await relayedBy(lab!, office1, relay);
    const c = json<CheckJson>(await lab!.ws.cli(['check', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
  });

  it('a client deployed the old way (global parameters): check FAILs on them; deploy moves them, says which, and the mail queued meanwhile is delivered', async () => {
    const r = (argv: string[]) => office2.keeper.run(argv);
    // What version 0.1 left: the policy in main.cf, no service, no default_transport, no record.
    const ca = `/${CERTS}/ca/hq.test-ca.crt.pem`;
    const key = `/${CERTS}/smtp-client/${office2.fqdn}`;
    await r(['postconf', '-MX', 'postfix-tls-relay/unix']);
    await r(['postconf', '-X', 'default_transport']);
    await r(['postconf', '-e', 'smtp_fallback_relay =', 'smtp_tls_security_level = secure', `smtp_tls_CAfile = ${ca}`, 'smtp_tls_CApath =', 'smtp_tls_loglevel = 1',
      'smtp_tls_mandatory_protocols = !SSLv2,!SSLv3,!TLSv1,!TLSv1.1', 'smtp_tls_mandatory_ciphers = high', `smtp_tls_chain_files = ${key}.key.pem,${key}.crt.pem`, 'smtp_tls_cert_file =', 'smtp_tls_key_file =']);
    fs.rmSync(path.join(office2.dir, CERTS, 'undo-smtp-client.txt'));
    await r(['postfix', 'reload']);

    const before = json<CheckJson>(await lab!.ws.cli(['check', 'client', '--json']));
    const bad = before.hosts.find((h) => h.fqdn === office2.fqdn)!.checks.filter((x) => !x.ok).map((x) => x.name);
    expect(bad).to.include('main.cf smtp_tls_security_level (global: the relay\'s policy belongs to postfix-tls-relay/unix only)');
    expect(bad).to.include('main.cf smtp_tls_chain_files (global: the relay\'s policy belongs to postfix-tls-relay/unix only)');
    expect(bad).to.include('master.cf postfix-tls-relay/unix');

    // A mail queued during the upgrade: the relay's port unreachable from office2 until the deploy is done.
    await office2.keeper.sh("nft add table inet hold; nft add chain inet hold out '{ type filter hook output priority 0; }'; nft add rule inet hold out tcp dport 2500 reject with tcp reset");
    const since = office2.postfix!.mark();
    const queued = await sendMail(lab!, office2);
    await office2.postfix!.waitForLog(/status=deferred/, { since });
    const d = json<DeployJson & { hosts: { applyOutput: string[] }[] }>(await ok(lab!, ['deploy', 'client', 'office2', '--json']));
    const said = d.hosts[0]!.applyOutput.join('\n');
    expect(said).to.match(/main\.cf: removed smtp_tls_security_level \(set globally by an earlier version; no record of the host's own value: Postfix's default now\)/);
    expect(said).to.match(/main\.cf: removed smtp_tls_chain_files /);
    await office2.keeper.sh('nft delete table inet hold');
    const flushed = office2.postfix!.mark();
    await office2.postfix!.flush();
    await delivered(lab!, queued, 60_000);
    await office2.postfix!.waitForLog(new RegExp(`Verified TLS connection established to ${esc(relay.fqdn)}\\[${esc(relay.ip)}\\]:2500`), { since: flushed });
    const n = await office2.postfix!.postconf(['-n']);
    expect(n).to.not.match(/^smtp_tls_(security_level|CAfile|CApath|chain_files|cert_file|key_file|loglevel|mandatory_\w+) =/m);
    // 0.1 kept no record: smtp_tls_security_level is Postfix's default now (none), and the LAN mail goes
    // without TLS, but it goes, and with no certificate.
    await lanDelivery(office2, false);
    await relayedBy(lab!, office2, relay);
    const after = json<CheckJson>(await lab!.ws.cli(['check', 'client', '--live', '--json']));
    expect(after.ok, failures(after)).to.equal(true);
  });

  it('undeploy bad input: an unknown host (exit 2), a host never deployed, a tampered or missing record (exit 1): one line each, nothing changed', async () => {
    const unknown = await lab!.ws.cli(['undeploy', 'nosuchhost']);
    expect(unknown.code, explain(unknown)).to.equal(2);
    expect(unknown.stderr.trim().split('\n')).to.have.length(1);
    expect(unknown.stderr).to.match(/undeploy: nosuchhost is not a host of settings\.mk/);

    await ok(lab!, ['add-client', 'office3']);
    const never = await lab!.ws.cli(['undeploy', 'office3']);
    expect(never.code, explain(never)).to.equal(1);
    expect(never.stderr.trim().split('\n')).to.have.length(1);
    expect(never.stderr).to.match(/office3\.hq\.test: not deployed \(no .*apply-smtp-client\.sh, no .*undo-smtp-client\.txt there\); nothing to undo/);

    const record = path.join(office2.dir, CERTS, 'undo-smtp-client.txt');
    const saved = fs.readFileSync(record, 'utf8');
    const state = await postconfNM(office2);
    fs.writeFileSync(record, saved.replace('main-unset relayhost', 'main-set relayhost = [evil.example]:25'));
    const tampered = await lab!.ws.cli(['undeploy', 'office2']);
    expect(tampered.code, explain(tampered)).to.equal(1);
    expect(tampered.stderr.trim().split('\n')).to.have.length(1);
    expect(tampered.stderr).to.match(/office2\.hq\.test: .*undo-smtp-client\.txt does not match its sha256 line \(edited or damaged\); nothing changed/);
    fs.rmSync(record);
    const missing = await lab!.ws.cli(['undeploy', 'office2']);
    expect(missing.code, explain(missing)).to.equal(1);
    expect(missing.stderr.trim().split('\n')).to.have.length(1);
    expect(missing.stderr).to.match(/office2\.hq\.test: no record of what the host had before postfix-tls-relay .*; nothing changed/);
    expect(await postconfNM(office2)).to.deep.equal(state);
    fs.writeFileSync(record, saved);
    const dry = await ok(lab!, ['undeploy', 'office2', '-n']);
    expect(dry.stdout).to.include('apply-smtp-client.sh --undeploy');
    expect(await postconfNM(office2)).to.deep.equal(state);
  });

  it('undeploy the client and the relay: postconf -n and -M byte-equal to before the first deploy, the files gone, the relay\'s port 25 untouched; a second undeploy has nothing to do', async () => {
    const u = json<UndeployJson>(await ok(lab!, ['undeploy', 'office1', '--json']));
    expect(u.hosts.map((h) => [h.fqdn, h.state, h.leftovers])).to.deep.equal([[office1.fqdn, 'undeployed', []]]);
    const relayed = await ok(lab!, ['undeploy', 'smarthost']);
    expect(relayed.stdout).to.match(/smarthost\.hq\.test: undeployed: \d+ change\(s\); confirmed/);
    for (const h of [office1, relay]) {
      const now = await postconfNM(h);
      expect(now.n, `${h.fqdn} postconf -n`).to.equal(snapshot.get(h.short)!.n);
      expect(now.M, `${h.fqdn} postconf -M`).to.equal(snapshot.get(h.short)!.M);
      expect(fs.existsSync(path.join(h.dir, CERTS)), `${h.fqdn}: ${CERTS}`).to.equal(false);
    }
    expect(fs.existsSync(path.join(relay.dir, 'etc/postfix/relay_clientcerts'))).to.equal(false);
    const port25 = await swaksIn(lab!.host('admin'), ['--server', `${relay.fqdn}:25`, '--quit-after', 'EHLO']);
    expect(port25.code, port25.output).to.equal(0);
    // The LAN mail still goes as before the tool.
    await lanDelivery(office1);
    const again = await ok(lab!, ['undeploy', 'office1', 'smarthost']);
    expect(again.stdout.trim().split('\n')).to.deep.equal([
      `${office1.fqdn}: nothing to do (no apply script, no record there: already undeployed)`,
      `${relay.fqdn}: nothing to do (no apply script, no record there: already undeployed)`,
    ]);
  });
});
