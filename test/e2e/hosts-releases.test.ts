// The whole story across Debian releases in the multi-host lab: relay13 on Debian 13 (Postfix 3.10,
// OpenSSL 3.5, OpenSSH 10) first, relay11 on Debian 11 (Postfix 3.5, OpenSSL 1.1.1, OpenSSH 8.4)
// second; clients c11 (Debian 11) and c13 (Debian 13). Each host runs its own bootstrapped root
// (test/support/hosts/release.ts), Postfix configured by that release's dpkg-reconfigure. Deploy as root
// and as a sudo user, check --live, mail with Verified/Trusted TLS, the refusals, revoke, failover, the
// TLS floor seen from a peer that speaks TLS 1.0/1.1, relay_tls_profile = modern on both releases (TLS 1.3
// only, in the protocol syntax each Postfix takes), renew --deploy of the Debian 13 relay. Asserted on
// outcomes (mailboxes, reply codes, log lines, deploy states), not on the exact parameters deployed, but for
// the profile's protocols.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { hostsLabPrerequisites, requirePrerequisites } from '../support/prereq.js';
import { createHostsLab, type HostsLab, type LabHost } from '../support/hosts/lab.js';
import { WS_PROJECT } from '../support/hosts/workstation.js';
import { certFingerprint } from '../support/certs.js';
import { esc, explain, failures, inMailbox, initProject, json, ok, relayedBy, reloads, type CheckJson, type DeployJson } from '../support/hosts/story.js';

const SPEC = {
  domain: 'example.test',
  relays: [{ name: 'relay13', release: 'trixie' as const }, { name: 'relay11', release: 'bullseye' as const }],
  clients: [{ name: 'c11', release: 'bullseye' as const }, { name: 'c13', release: 'trixie' as const }],
  admin: { user: 'deploy' },
};
/** What each release's root holds (releases-facts: bootstrapped from the mirror). */
const EXPECTED = {
  trixie: { postfix: /^3\.10\./, openssl: /^OpenSSL 3\.5\./, ssh: /^OpenSSH_10\./, debian: /^13\./ },
  bullseye: { postfix: /^3\.5\./, openssl: /^OpenSSL 1\.1\.1/, ssh: /^OpenSSH_8\.4/, debian: /^11\./ },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e hosts lab across releases: relays and clients on Debian 11 and 13', function () {
  this.timeout(300_000);
  let lab: HostsLab | undefined;
  let relay13: LabHost;
  let relay11: LabHost;
  let c11: LabHost;
  let c13: LabHost;
  let ws: LabHost;

  const project = (rel: string) => path.join(lab!.ws.projectDir, rel);
  const states = (d: DeployJson) => d.hosts.map((h) => [h.fqdn, h.state]);

  /** swaks from the workstation (this machine's Debian) to a relay's port 2500, STARTTLS, with `cert`. */
  async function offer(relay: LabHost, subject: string, cert?: { crt: string; key: string }) {
    const r = await lab!.ws.keeper.run(['swaks', '--timeout', '15', '--server', `${relay.fqdn}:2500`, '--tls', '--from', `root@${ws.fqdn}`,
      '--to', `${lab!.destUser}@${lab!.destDomain}`, '--header', `Subject: ${subject}`, ...(cert ? ['--tls-cert', cert.crt, '--tls-key', cert.key] : [])], { check: false, env: lab!.ws.env });
    return { code: r.code, output: r.stdout + r.stderr };
  }
  /**
   * A relay refuses `cert` (none, a foreign one, ours but not listed) after STARTTLS: at once when the
   * client presents no trusted certificate (4.7.1), at RCPT when the certificate is ours but not listed
   * (5.7.1, NOQUEUE in its log); nothing queued, nothing delivered.
   */
  async function refused(relay: LabHost, what: string, cert?: { crt: string; key: string }) {
    const since = relay.postfix!.mark();
    const subject = `${what} to ${relay.short} ${Date.now()}`;
    const r = await offer(relay, subject, cert);
    const msg = `${what} → ${relay.short}:\n${r.output}`;
    expect(r.output, msg).to.match(/^<-  220 .*Ready to start TLS/m);
    const reply = /^<~\*+ ([45]\d\d [45]\.7\.1 .*)$/m.exec(r.output);
    expect(reply, msg).to.not.equal(null);
    expect(r.output, msg).to.not.match(/Ok: queued/);
    if (reply![1]!.startsWith('5')) {
      expect(reply![1], msg).to.match(/<alice@dest\.test>: /);
      await relay.postfix!.waitForLog(/NOQUEUE: reject: RCPT from admin\.example\.test\[[\d.]+\]: 5\d\d 5\.7\.1 /, { since });
    }
    expect(inMailbox(lab!, subject)).to.equal(false);
    return reply![1]!;
  }
  /** openssl s_client from the workstation with one protocol only (any cipher, security level 0). */
  const sClient = (target: string, proto: string, starttls: boolean) => lab!.ws.keeper.run(['sh', '-c',
    `echo QUIT | timeout 20 openssl s_client -connect ${target} ${starttls ? '-starttls smtp' : ''} -${proto} -cipher 'DEFAULT:@SECLEVEL=0' 2>&1`], { check: false });
  const established = (out: string) => /^New, TLSv1(\.\d)?, Cipher is (?!\(NONE\))/m.test(out);
  /** With the Postfix of `relay` stopped: the client's mail goes through the other relay. */
  async function whileDown<T>(relay: LabHost, fn: () => Promise<T>): Promise<T> {
    await relay.keeper.run(['/etc/init.d/postfix', 'stop']);
    try {
      return await fn();
    } finally {
      await relay.keeper.run(['/etc/init.d/postfix', 'start']);
    }
  }
  /** A relay refuses `client`'s own mail (revoked): the client's log has the relay's 5.7.1. */
  async function clientRefused(client: LabHost, relay: LabHost) {
    const since = { client: client.postfix!.mark(), relay: relay.postfix!.mark() };
    await client.postfix!.send(`root@${client.fqdn}`, `${lab!.destUser}@${lab!.destDomain}`, `revoked ${client.short} via ${relay.short}`);
    await client.postfix!.waitForLog(new RegExp(`relay=${esc(relay.fqdn)}\\[${esc(relay.ip)}\\]:2500, .*said: 5\\d\\d 5\\.7\\.1 `), { since: since.client });
    await relay.postfix!.waitForLog(new RegExp(`NOQUEUE: reject: RCPT from ${esc(client.fqdn)}\\[${esc(client.ip)}\\]: 5\\d\\d 5\\.7\\.1`), { since: since.relay });
  }

  before(async function () {
    this.timeout(900_000); // a cold cache bootstraps both roots first (about a minute each)
    requirePrerequisites(this, hostsLabPrerequisites());
    lab = await createHostsLab(SPEC);
    [relay13, relay11] = lab.relays as [LabHost, LabHost];
    [c11, c13] = lab.clients as [LabHost, LabHost];
    ws = lab.host('admin');
    // smtpd_server_hostnames: relay11 after relay13, the clients' second relay.
    await initProject(lab, ['c11', 'c13'], ['smtpd_server_hostnames := relay11']);
    await ok(lab, ['build', '-q']);
  });
  after(async () => {
    await lab?.teardown();
  });

  it('each host runs its own release: Postfix, OpenSSL and OpenSSH as Debian 11 and 13 ship them, Postfix from dpkg-reconfigure', async () => {
    for (const h of [relay13, relay11, c11, c13]) {
      const want = EXPECTED[h.release!];
      const [postfix, openssl, ssh, debian] = await Promise.all([
        h.keeper.run(['postconf', '-dh', 'mail_version']), h.keeper.run(['openssl', 'version']), h.keeper.run(['ssh', '-V']), h.keeper.run(['cat', '/etc/debian_version']),
      ]);
      expect(postfix.stdout.trim(), `${h.short} Postfix`).to.match(want.postfix);
      expect(openssl.stdout.trim(), `${h.short} OpenSSL`).to.match(want.openssl);
      expect(ssh.stderr.trim(), `${h.short} OpenSSH`).to.match(want.ssh);
      expect(debian.stdout.trim(), `${h.short} Debian`).to.match(want.debian);
      // Debian's own configuration of an Internet Site: chrooted smtp, the snakeoil certificate.
      expect((await h.postfix!.postconf(['-Fh', 'smtp/unix/chroot'])).trim()).to.equal('y');
      expect((await h.postfix!.postconf(['-h', 'smtpd_tls_cert_file', 'myhostname'])).trim().split('\n')).to.deep.equal(['/etc/ssl/certs/ssl-cert-snakeoil.pem', h.fqdn]);
    }
  });

  it('deploy -n names what apply.sh chooses by the host\'s Postfix; deploy as root to every release; check --live OK from each client to each relay', async () => {
    const dry = await ok(lab!, ['deploy', '-n']);
    const list = `[${relay13.fqdn}]:2500, [${relay11.fqdn}]:2500`;
    expect(dry.stdout).to.include(`${c11.fqdn} (smtp client): would run`).and.include([
      '  apply.sh chooses by the host\'s Postfix (postconf -dh mail_version):',
      `    Postfix 3.5 or later: relayhost = ${list}; older: relayhost = [${relay13.fqdn}]:2500; smtp_fallback_relay = [${relay11.fqdn}]:2500`,
    ].join('\n'));
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(states(d)).to.deep.equal([relay13, relay11, c11, c13].map((h) => [h.fqdn, 'updated']));
    const c = json<CheckJson>(await lab!.ws.cli(['check', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
    const live = c.hosts.flatMap((h) => h.checks.map((x) => `${h.fqdn} ${x.name} ${x.actual}`)).filter((x) => x.includes('live STARTTLS'));
    expect(live).to.have.length(4);
    for (const client of [c11, c13]) {
      for (const relay of [relay13, relay11]) {
        expect(live.find((l) => l.startsWith(`${client.fqdn} live STARTTLS to [${relay.fqdn}]:2500`)), `${client.short} → ${relay.short}`).to.match(/Verified TLS connection established/);
      }
    }
    // check takes deploy's host selection.
    const one = json<CheckJson>(await ok(lab!, ['check', 'client', 'c11', '--live', '--json']));
    expect(one.hosts.map((h) => h.fqdn)).to.deep.equal([c11.fqdn]);
  });

  it('each client\'s mail is relayed by the Debian 13 relay with Verified/Trusted TLS; with it down, by the Debian 11 relay', async () => {
    for (const client of [c11, c13]) await relayedBy(lab!, client, relay13);
    await whileDown(relay13, async () => {
      for (const client of [c11, c13]) await relayedBy(lab!, client, relay11);
    });
  });

  it('both relays refuse a client without a certificate, with a foreign one, and with one of our CA that is not listed', async () => {
    // A foreign certificate: self-signed, for client authentication, made on the workstation.
    await lab!.ws.keeper.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/root/foreign.key',
      '-out', '/root/foreign.crt', '-subj', `/CN=${ws.fqdn}`, '-days', '2', '-addext', 'extendedKeyUsage=clientAuth']);
    // Ours but not listed: a client added to the project, whose allowlist entry no relay has yet; then revoked.
    await ok(lab!, ['add-client', 'spare', '-q']);
    const spare = { crt: `${WS_PROJECT}/certs/smtp-client/spare.example.test.crt.pem`, key: `${WS_PROJECT}/certs/smtp-client/spare.example.test.key.pem` };
    try {
      for (const relay of [relay13, relay11]) {
        expect(await refused(relay, 'no certificate')).to.match(/^4\d\d 4\.7\.1 .*No client certificate presented/);
        expect(await refused(relay, 'a foreign certificate', { crt: '/root/foreign.crt', key: '/root/foreign.key' })).to.match(/^4\d\d 4\.7\.1 .*not trusted|^5\d\d 5\.7\.1 /);
        expect(await refused(relay, 'our CA, not listed', spare)).to.match(/^5\d\d 5\.7\.1 /);
      }
    } finally {
      await ok(lab!, ['revoke', 'spare', '-q']); // it has no host: never deployed
    }
  });

  // Before the revoke below: a Debian 11 client (OpenSSL 1.1.1) and a Debian 13 one both send.
  it('relay_tls_profile = modern (--set on build and deploy): TLS 1.3 only on every release, mail from each client relayed by each relay over TLS 1.3, TLS 1.2 refused; back to intermediate', async () => {
    const PROTOCOLS = ['smtpd_tls_mandatory_protocols', 'smtpd_tls_protocols'];
    // Postfix 3.6 and later take the range; Debian 11's 3.5 the exclusion list.
    const floor = (h: LabHost) => (h.release === 'trixie' ? '>=TLSv1.3' : '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2');
    const deployed = (d: DeployJson) => d.hosts.filter((h) => h.state !== 'skipped').map((h) => [h.fqdn, h.state]);
    const set = ['--set', 'relay_tls_profile=modern'];
    await ok(lab!, ['build', '-q', ...set]);
    expect(deployed(json<DeployJson>(await ok(lab!, ['deploy', '--json', ...set])))).to.deep.equal([relay13, relay11, c11, c13].map((h) => [h.fqdn, 'updated']));
    try {
      for (const relay of [relay13, relay11]) {
        const got = (await relay.postfix!.postconf(['-P', ...PROTOCOLS.map((n) => `2500/inet/${n}`)])).trim().split('\n');
        expect(got, relay.short).to.deep.equal(PROTOCOLS.map((n) => `2500/inet/${n} = ${floor(relay)}`));
      }
      for (const client of [c11, c13]) {
        const got = (await client.postfix!.postconf(['-P', 'postfix-tls-relay/unix/smtp_tls_mandatory_protocols'])).trim();
        expect(got, client.short).to.equal(`postfix-tls-relay/unix/smtp_tls_mandatory_protocols = ${floor(client)}`);
      }
      /** relayedBy, and both sides logged TLS 1.3 for that connection. */
      const relayedOverTls13 = async (client: LabHost, relay: LabHost) => {
        const since = { client: client.postfix!.mark(), relay: relay.postfix!.mark() };
        await relayedBy(lab!, client, relay);
        const cLog = client.postfix!.log().slice(since.client);
        const rLog = relay.postfix!.log().slice(since.relay);
        const msg = `${client.short} → ${relay.short}`;
        expect(cLog, msg).to.match(new RegExp(`Verified TLS connection established to ${esc(relay.fqdn)}\\[${esc(relay.ip)}\\]:2500: TLSv1\\.3 with cipher `));
        expect(rLog, msg).to.match(new RegExp(`Trusted TLS connection established from ${esc(client.fqdn)}\\[${esc(client.ip)}\\]: TLSv1\\.3 with cipher `));
        expect(cLog + rLog, msg).to.not.match(/TLS connection established (to|from) .*: TLSv1\.[0-2] /);
      };
      for (const client of [c11, c13]) await relayedOverTls13(client, relay13);
      await whileDown(relay13, async () => {
        for (const client of [c11, c13]) await relayedOverTls13(client, relay11);
      });
      for (const relay of [relay13, relay11]) {
        const tls12 = (await sClient(`${relay.fqdn}:2500`, 'tls1_2', true)).stdout;
        expect(established(tls12), `${relay.short} tls1_2:\n${tls12}`).to.equal(false);
        const tls13 = (await sClient(`${relay.fqdn}:2500`, 'tls1_3', true)).stdout;
        expect(tls13, `${relay.short} tls1_3:\n${tls13}`).to.match(/^New, TLSv1\.3, Cipher is (?!\(NONE\))/m);
      }
    } finally {
      // Back to the default (settings.mk has no relay_tls_profile): the tests below see intermediate.
      await ok(lab!, ['build', '-q']);
      expect(deployed(json<DeployJson>(await ok(lab!, ['deploy', '--json'])))).to.deep.equal([relay13, relay11, c11, c13].map((h) => [h.fqdn, 'updated']));
    }
    for (const relay of [relay13, relay11]) {
      expect((await relay.postfix!.postconf(['-Ph', '2500/inet/smtpd_tls_mandatory_protocols'])).trim(), relay.short).to.equal(relay.release === 'trixie' ? '>=TLSv1.2' : '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1');
    }
  });

  it('as a sudo user with the sudoers lines of `instructions`: revoke c11 + deploy → both relays refuse it, c13 still relayed by both', async () => {
    fs.appendFileSync(project('settings.mk'), 'smtp_client_ssh_user := deploy\nsmtpd_server_ssh_user := deploy\n');
    const inst = json<{ hosts: { fqdn: string; sudoers: string[] }[] }>(await ok(lab!, ['instructions', '--json']));
    for (const h of [relay13, relay11, c11, c13]) {
      const lines = inst.hosts.find((x) => x.fqdn === h.fqdn)!.sudoers;
      expect(lines.length, h.fqdn).to.be.greaterThan(3);
      await lab!.setSudoers(h, 'deploy', lines.join('\n')); // visudo -c of each release accepts them
    }
    await ok(lab!, ['revoke', 'c11', '-q']);
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(Object.fromEntries(states(d))).to.deep.equal({ [relay13.fqdn]: 'updated', [relay11.fqdn]: 'updated', [c11.fqdn]: 'skipped', [c13.fqdn]: 'unchanged', [`spare.${lab!.domain}`]: 'skipped' });
    const audit = fs.readFileSync(project('audit.log'), 'utf8');
    expect(audit).to.include(`deploy@${relay11.fqdn}`).and.include('sudo -n -- rsync');
    for (const relay of [relay13, relay11]) {
      const key = fs.statSync(path.join(relay.dir, 'etc/postfix-tls-based-relaying/smtpd-server', `${relay.fqdn}.key.pem`));
      expect([key.mode & 0o777, key.uid, key.gid], relay.fqdn).to.deep.equal([0o600, 0, 0]);
    }
    await clientRefused(c11, relay13);
    await whileDown(relay13, () => clientRefused(c11, relay11));
    await relayedBy(lab!, c13, relay13);
    await whileDown(relay13, () => relayedBy(lab!, c13, relay11));
  });

  it('a second deploy (as the sudo user) changes nothing and reloads nothing on any release', async () => {
    const before = [relay13, relay11, c13].map(reloads);
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.filter((h) => h.state !== 'skipped').map((h) => [h.fqdn, h.state])).to.deep.equal([[relay13.fqdn, 'unchanged'], [relay11.fqdn, 'unchanged'], [c13.fqdn, 'unchanged']]);
    expect([relay13, relay11, c13].map(reloads)).to.deep.equal(before);
    const c = json<CheckJson>(await lab!.ws.cli(['check', 'client', 'c13', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
  });

  it('TLS 1.0 and 1.1 are refused by each relay, from a peer that speaks them (shown against its own server)', async () => {
    // The control: this machine's openssl speaks TLS 1.0 and 1.1 at security level 0 to its own server.
    await lab!.ws.keeper.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/root/old.key', '-out', '/root/old.crt', '-subj', '/CN=old', '-days', '1']);
    for (const [proto, port] of [['tls1', 47101], ['tls1_1', 47102]] as const) {
      const server = lab!.ws.keeper.spawn(['timeout', '30', 'openssl', 's_server', '-accept', `127.0.0.1:${port}`, '-cert', '/root/old.crt', '-key', '/root/old.key', `-${proto}`, '-cipher', 'DEFAULT:@SECLEVEL=0', '-naccept', '1']);
      try {
        await sleep(700);
        const out = (await sClient(`127.0.0.1:${port}`, proto, false)).stdout;
        expect(established(out), out).to.equal(true);
      } finally {
        server.stdin?.end();
        server.kill();
      }
    }
    for (const relay of [relay13, relay11]) {
      for (const proto of ['tls1', 'tls1_1']) {
        const out = (await sClient(`${relay.fqdn}:2500`, proto, true)).stdout;
        expect(established(out), `${relay.short} ${proto}:\n${out}`).to.equal(false);
      }
      const modern = (await sClient(`${relay.fqdn}:2500`, 'tls1_2', true)).stdout;
      expect(established(modern), `${relay.short} tls1_2:\n${modern}`).to.equal(true);
    }
  });

  it('renew --deploy of the Debian 13 relay: the new certificate served (check --live), mail still relayed by it', async () => {
    const certRel = `etc/postfix-tls-based-relaying/smtpd-server/${relay13.fqdn}.crt.pem`;
    const old = certFingerprint(path.join(relay13.dir, certRel));
    const r = await ok(lab!, ['renew', 'relay13', '--deploy']);
    expect(r.stderr, explain(r)).to.not.match(/FAIL|error/i);
    const now = certFingerprint(project(`certs/smtpd-server/${relay13.fqdn}.crt.pem`));
    expect(now).to.not.equal(old);
    expect(certFingerprint(path.join(relay13.dir, certRel))).to.equal(now);
    await sleep(1500); // master restarts its children after the reload
    const c = json<CheckJson>(await lab!.ws.cli(['check', 'client', 'c13', '--live', '--json']));
    expect(c.ok, failures(c)).to.equal(true);
    const served = c.hosts[0]!.checks.find((x) => x.name === `live certificate served on [${relay13.fqdn}]:2500`);
    expect(served?.ok, JSON.stringify(served)).to.equal(true);
    expect(served!.actual).to.include(now.slice(0, 23));
    await relayedBy(lab!, c13, relay13);
  });
});
