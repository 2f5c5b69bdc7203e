// Operations in the multi-host lab (stock Debian hosts in their own namespaces, DNS, the clients' port
// 25 blocked): a renewed relay certificate put in place by hand without a reload is caught by
// check --live, which names the reload; renew --deploy run as a timer runs it (no terminal, stdin
// /dev/null, the CA passphrase file opened by the workstation's passphrase-less GnuPG key) renews a
// client that openssl issued for 5 days and deploys only it; renew --deploy --rekey deploys the client
// and the relay (old and new fingerprint, then only the new); the relay's allowlist_current metric
// follows the allowlist. Mail is relayed over verified TLS after each step.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { hostsLabPrerequisites, requirePrerequisites } from '../support/prereq.js';
import { createHostsLab, type HostsLab, type LabHost } from '../support/hosts/lab.js';
import { WS_PROJECT } from '../support/hosts/workstation.js';
import { esc, explain, failures, inMailbox, initProject, json, ok, relayedBy, reloads, sendMail, swaksIn, type CheckJson, type DeployJson } from '../support/hosts/story.js';
import { certFingerprint, serialOf } from '../support/certs.js';
import { CLI } from '../support/project.js';
import { parseExposition, promtool, valueOf, type PromSample } from '../support/prometheus.js';
import { daysLeft, reissueArgs } from '../support/reissue.js';

const REMOTE_DIR = '/etc/postfix-tls-based-relaying';
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e hosts lab: the certificate a relay serves, unattended renewal, the allowlist metric', function () {
  this.timeout(300_000);
  let lab: HostsLab | undefined;
  let relay: LabHost;
  let mailhost: LabHost;
  let backup: LabHost;

  const project = (rel: string) => path.join(lab!.ws.projectDir, rel);
  /** A host's deployed file, from outside (its private /etc). */
  const onHost = (h: LabHost, remote: string) => path.join(h.dir, remote);
  const certPath = (h: LabHost) => `${REMOTE_DIR}/${h.role === 'relay' ? 'smtpd-server' : 'smtp-client'}/${h.fqdn}.crt.pem`;
  const projectCert = (h: LabHost) => project(`certs/${h.role === 'relay' ? 'smtpd-server' : 'smtp-client'}/${h.fqdn}.crt.pem`);
  const checkLive = async () => {
    const r = await lab!.ws.cli(['check', '--live', '--json']);
    return { r, c: json<CheckJson>(r) };
  };
  const item = (c: CheckJson, host: LabHost, prefix: string) => c.hosts.find((h) => h.fqdn === host.fqdn)!.checks.find((x) => x.name.startsWith(prefix));
  const metrics = async (): Promise<PromSample[]> => {
    const r = await ok(lab!, ['status', '--format', 'prometheus']);
    const lint = promtool(['check', 'metrics'], r.stdout);
    expect(lint.code, `${lint.output}\n${r.stdout}`).to.equal(0);
    return parseExposition(r.stdout);
  };
  const allowlistCurrent = async () => valueOf(await metrics(), 'postfix_tls_relay_allowlist_current', { host: relay.fqdn, role: 'server' });
  /** The deploy steps (audit.log) since line `from`, as "step:host". */
  const auditLines = () => fs.readFileSync(project('audit.log'), 'utf8').split('\n').filter(Boolean);
  const deploySteps = (from: number) => auditLines().slice(from).map((l) => (JSON.parse(l) as { step: string }).step).filter((s) => s.startsWith('deploy-'));

  /**
   * Re-signs a host's request with `dates` through the real openssl on the workstation, the CA
   * passphrase going from gpg's output to openssl's stdin (never argv, env or a file).
   */
  async function reissue(h: LabHost, dates: string[]): Promise<void> {
    const args = reissueArgs(h.role === 'relay' ? 'smtpd-server' : 'smtp-client', h.fqdn, dates);
    await lab!.ws.keeper.sh(`set -e; gpg --batch --quiet --decrypt ca-passphrase.gpg | openssl ${args.map(q).join(' ')}`, { cwd: WS_PROJECT, env: lab!.ws.env });
  }

  before(async function () {
    requirePrerequisites(this, hostsLabPrerequisites());
    lab = await createHostsLab({ domain: 'example.test', relays: ['relayhost'], clients: ['mailhost', 'backup'] });
    relay = lab.host('relayhost');
    mailhost = lab.host('mailhost');
    backup = lab.host('backup');
    await initProject(lab, ['mailhost', 'backup']);
    await ok(lab, ['build', '-q']);
  });
  after(async () => {
    await lab?.teardown();
  });

  it('after deploy: check --live sees the project\'s relay certificate on the wire; the bundles and the allowlist are current', async () => {
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay.fqdn, 'updated'], [mailhost.fqdn, 'updated'], [backup.fqdn, 'updated']]);
    const { r, c } = await checkLive();
    expect(r.code, failures(c)).to.equal(0);
    for (const client of [mailhost, backup]) {
      const served = item(c, client, 'live certificate served');
      expect(served?.ok, JSON.stringify(served)).to.equal(true);
      expect(served!.actual).to.include(certFingerprint(projectCert(relay)).slice(0, 23));
    }
    const m = await metrics();
    for (const h of [relay, mailhost, backup]) expect(valueOf(m, 'postfix_tls_relay_bundle_current', { host: h.fqdn }), h.fqdn).to.equal(1);
    expect(valueOf(m, 'postfix_tls_relay_allowlist_current', { host: relay.fqdn, role: 'server' })).to.equal(1);
    await relayedBy(lab!, mailhost, relay);
  });

  it('a renewed relay certificate put in place by hand without a reload: check --live FAILs naming the reload; run as printed, it is OK', async () => {
    const remote = certPath(relay);
    const oldServed = certFingerprint(onHost(relay, remote));
    // A check now: the relay's smtpd that served it stays idle with the certificate it loaded.
    const warm = await checkLive();
    expect(warm.r.code, failures(warm.c)).to.equal(0);
    await ok(lab!, ['renew', 'relayhost', '-q']);
    // The admin copies the new file onto the relay (cp to a temp name, mv over the old one) and forgets the reload.
    const bundled = fs.readFileSync(project(`out/${relay.fqdn}/root${remote}`));
    await relay.keeper.run(['sh', '-c', 'cat > "$1.new" && chmod 644 "$1.new" && mv "$1.new" "$1"', 'sh', remote], { input: bundled.toString('utf8') });
    expect(certFingerprint(onHost(relay, remote))).to.equal(certFingerprint(projectCert(relay))).and.not.equal(oldServed);

    const { r, c } = await checkLive();
    expect(r.code, explain(r)).to.equal(1);
    expect(item(c, relay, `file ${remote}`)?.ok, 'the file on the relay is the new one').to.equal(true);
    const served = item(c, mailhost, 'live certificate served')!;
    expect(served.ok, JSON.stringify(served)).to.equal(false);
    expect(served.name).to.equal(`live certificate served on [${relay.fqdn}]:2500`);
    expect(served.actual).to.include(oldServed.slice(0, 23));
    expect(served.actual).to.match(new RegExp(`the file on ${esc(relay.fqdn)} is the new one but Postfix still serves the old one; reload it: (ssh .*root@${esc(relay.fqdn)} 'postfix -c /etc/postfix reload')$`));
    // Nothing else is wrong: the files are right, only the running Postfix is behind.
    expect(c.hosts.flatMap((h) => h.checks.filter((x) => !x.ok).map((x) => `${h.fqdn}: ${x.name}`))).to.deep.equal([mailhost, backup].map((h) => `${h.fqdn}: ${served.name}`));
    const nagios = await lab!.ws.cli(['check', '--live', '--nagios']);
    expect(nagios.code, explain(nagios)).to.equal(2);
    expect(nagios.stdout).to.match(new RegExp(`^POSTFIX-TLS-RELAY CRITICAL - ${esc(mailhost.fqdn)}: live certificate served on `));

    // The reload as printed, run as printed on the workstation.
    const reload = /reload it: (.*)$/.exec(served.actual)![1]!;
    const before = reloads(relay);
    await lab!.ws.keeper.sh(reload, { cwd: WS_PROJECT, env: lab!.ws.env });
    await relay.postfix!.waitForLog(/postfix\/master\[\d+\]: reload -- /, { since: 0 });
    expect(reloads(relay)).to.equal(before + 1);
    await sleep(1500); // master restarts its children
    const after = await checkLive();
    expect(after.r.code, failures(after.c)).to.equal(0);
    expect(item(after.c, mailhost, 'live certificate served')!.actual).to.include(certFingerprint(projectCert(relay)).slice(0, 23));
    await relayedBy(lab!, mailhost, relay);
  });

  it('renew --deploy from a timer-like run renews the client near expiry, deploys only it, says nothing; mail keeps relaying', async () => {
    // mailhost runs a certificate openssl issued for 5 days: the hosts' view is CRITICAL.
    await reissue(mailhost, ['-days', '5']);
    await ok(lab!, ['build', '-q']);
    await ok(lab!, ['deploy', '-q']);
    const remote = onHost(mailhost, certPath(mailhost));
    expect(daysLeft(remote)).to.be.within(4, 5);
    const critical = await lab!.ws.cli(['check', '--nagios']);
    expect(critical.code, explain(critical)).to.equal(2);
    expect(critical.stdout).to.match(new RegExp(`^POSTFIX-TLS-RELAY CRITICAL - ${esc(mailhost.fqdn)}: deployed certificate expires in [45] day\\(s\\)`));
    const oldSerial = serialOf(remote);
    const untouched = [relay, backup].map((h) => ({ h, serial: serialOf(onHost(h, certPath(h))), reloads: reloads(h) }));
    const allowlist = fs.readFileSync(onHost(relay, '/etc/postfix/relay_clientcerts'), 'utf8');
    const seenBefore = await metrics();
    const auditFrom = auditLines().length;

    // As systemd runs it: a new session without a terminal, stdin /dev/null, a minimal environment.
    await sleep(1100); // a later second than the last record
    const run = await lab!.ws.keeper.sh(`exec setsid -w ${q(process.execPath)} ${q(CLI)} renew --deploy --within 10 -C ${q(WS_PROJECT)} </dev/null`, {
      cwd: '/', env: { HOME: '/root', GNUPGHOME: lab!.ws.env.GNUPGHOME!, LANG: 'C.UTF-8' }, check: false, timeoutMs: 240_000,
    });
    expect([run.code, run.stdout, run.stderr], `${run.stdout}\n${run.stderr}`).to.deep.equal([0, '', '']);

    // Exactly that client was renewed and deployed.
    expect(serialOf(remote)).to.not.equal(oldSerial);
    expect(certFingerprint(remote)).to.equal(certFingerprint(projectCert(mailhost)));
    expect(daysLeft(remote)).to.be.above(300);
    expect([...new Set(deploySteps(auditFrom).filter((s) => !s.startsWith('deploy-relay-allowlist:')).map((s) => s.split(':')[1]))]).to.deep.equal([mailhost.fqdn]);
    for (const u of untouched) {
      expect(serialOf(onHost(u.h, certPath(u.h))), u.h.fqdn).to.equal(u.serial);
      expect(reloads(u.h), `${u.h.fqdn} reloaded`).to.equal(u.reloads);
    }
    // Same key, same fingerprint: the relay's allowlist is what it was.
    expect(fs.readFileSync(onHost(relay, '/etc/postfix/relay_clientcerts'), 'utf8')).to.equal(allowlist);
    const m = await metrics();
    for (const h of [relay, mailhost, backup]) expect(valueOf(m, 'postfix_tls_relay_bundle_current', { host: h.fqdn }), h.fqdn).to.equal(1);
    for (const h of [relay, backup]) {
      expect(valueOf(m, 'postfix_tls_relay_bundle_last_seen_timestamp_seconds', { host: h.fqdn }), h.fqdn).to.equal(valueOf(seenBefore, 'postfix_tls_relay_bundle_last_seen_timestamp_seconds', { host: h.fqdn }));
    }
    expect(valueOf(m, 'postfix_tls_relay_bundle_last_seen_timestamp_seconds', { host: mailhost.fqdn, source: 'deploy' })).to.be.above(valueOf(seenBefore, 'postfix_tls_relay_bundle_last_seen_timestamp_seconds', { host: mailhost.fqdn }));

    await relayedBy(lab!, mailhost, relay);
    const okNow = await lab!.ws.cli(['check', '--live', '--nagios']);
    expect(okNow.code, explain(okNow)).to.equal(0);
    // Without a client certificate the relay still refuses the session after STARTTLS.
    const noCert = await swaksIn(mailhost, ['--server', `${relay.fqdn}:2500`, '--tls', '--from', `root@${mailhost.fqdn}`, '--to', `${lab!.destUser}@${lab!.destDomain}`, '--header', 'Subject: no-cert']);
    expect(noCert.code, noCert.output).to.not.equal(0);
    expect(noCert.output).to.match(/^<~\* 421 4\.7\.1 relayhost\.example\.test Error: No client certificate presented$/m);
    expect(noCert.output).to.not.match(/^<~? 250 2\.0\.0 Ok: queued/m);
    expect(inMailbox(lab!, 'no-cert')).to.equal(false);
  });

  it('renew --deploy --rekey: the relay gets old and new fingerprint, the client its new key, then the relay only the new one; mail keeps relaying', async () => {
    const entryOf = (text: string) => text.split('\n').filter((l) => l.endsWith(` ${mailhost.fqdn}`));
    const oldEntries = entryOf(fs.readFileSync(project('etc/postfix/relay_clientcerts'), 'utf8'));
    expect(oldEntries).to.have.length(1);
    const keyFile = `${REMOTE_DIR}/smtp-client/${mailhost.fqdn}.key.pem`;
    const oldKey = fs.readFileSync(onHost(mailhost, keyFile));
    const relayReloads = reloads(relay);
    const auditFrom = auditLines().length;

    const r = await lab!.ws.cli(['renew', 'mailhost', '--rekey', '--deploy', '--json']);
    expect(r.code, explain(r)).to.equal(0);
    expect(r.stderr, 'quiet on success').to.equal('');
    const out = json<{ renewed: { fqdn: string; newKey: boolean; fingerprintChanged: boolean; rotation: boolean }[]; relayChanged: boolean; rotations: unknown[]; deployed: { hosts: DeployJson['hosts']; rotationsFinished: string[]; relaysAfterRotation: DeployJson['hosts'] } }>(r);
    // The rotation began and ended in this run: none is left.
    expect(out.renewed.map((x) => [x.fqdn, x.newKey, x.fingerprintChanged, x.rotation])).to.deep.equal([[mailhost.fqdn, true, true, false]]);
    expect(out.relayChanged).to.equal(true);
    // The relay first (listing old and new), then the client; its rotation ends and the relay gets the allowlist without the old entry.
    expect(out.deployed.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay.fqdn, 'updated'], [mailhost.fqdn, 'updated']]);
    expect(out.deployed.rotationsFinished).to.deep.equal([mailhost.fqdn]);
    expect(out.deployed.relaysAfterRotation.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay.fqdn, 'updated']]);
    const rsyncs = deploySteps(auditFrom).filter((s) => s.startsWith('deploy-rsync:'));
    expect(rsyncs).to.deep.equal([`deploy-rsync:${relay.fqdn}`, `deploy-rsync:${mailhost.fqdn}`, `deploy-rsync:${relay.fqdn}`]);
    expect(reloads(relay)).to.be.above(relayReloads);

    // The hosts now: a new key on the client, only its new entry on the relay, backup's entry kept.
    expect(fs.readFileSync(onHost(mailhost, keyFile)).equals(oldKey)).to.equal(false);
    const listed = fs.readFileSync(onHost(relay, '/etc/postfix/relay_clientcerts'), 'utf8');
    expect(listed).to.equal(fs.readFileSync(project('etc/postfix/relay_clientcerts'), 'utf8'));
    expect(entryOf(listed)).to.have.length(1).and.not.include(oldEntries[0]);
    expect(listed.split('\n').some((l) => l.endsWith(` ${backup.fqdn}`))).to.equal(true);
    expect(out.rotations).to.deep.equal([]);
    const m = await metrics();
    expect(valueOf(m, 'postfix_tls_relay_rotation_in_progress', { host: mailhost.fqdn })).to.equal(0);
    expect(valueOf(m, 'postfix_tls_relay_allowlist_current', { host: relay.fqdn, role: 'server' })).to.equal(1);
    await relayedBy(lab!, mailhost, relay);
    await relayedBy(lab!, backup, relay);
    const c = await checkLive();
    expect(c.r.code, failures(c.c)).to.equal(0);
  });

  it('postfix_tls_relay_allowlist_current: 1 after deploy, 0 once the allowlist changes (revoke) until the relay is deployed, then 1; the revoked client is refused', async () => {
    expect(await allowlistCurrent()).to.equal(1);
    await ok(lab!, ['revoke', 'backup', '-q']);
    expect(await allowlistCurrent(), 'the relay still has the allowlist that lists backup').to.equal(0);
    expect(fs.readFileSync(onHost(relay, '/etc/postfix/relay_clientcerts'), 'utf8')).to.match(new RegExp(` ${esc(backup.fqdn)}$`, 'm'));
    const d = json<DeployJson>(await ok(lab!, ['deploy', '--json']));
    expect(d.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[relay.fqdn, 'updated'], [mailhost.fqdn, 'unchanged'], [backup.fqdn, 'skipped']]);
    expect(await allowlistCurrent()).to.equal(1);
    expect(fs.readFileSync(onHost(relay, '/etc/postfix/relay_clientcerts'), 'utf8')).to.not.include(backup.fqdn);

    const since = { client: backup.postfix!.mark(), relay: relay.postfix!.mark() };
    const subject = await sendMail(lab!, backup);
    await backup.postfix!.waitForLog(new RegExp(`relay=${esc(relay.fqdn)}\\[${esc(relay.ip)}\\]:2500, .*said: 554 5\\.7\\.1 <alice@dest\\.test>: Recipient address rejected: Access denied`), { since: since.client });
    await relay.postfix!.waitForLog(new RegExp(`NOQUEUE: reject: RCPT from ${esc(backup.fqdn)}\\[${esc(backup.ip)}\\]: 554 5\\.7\\.1`), { since: since.relay });
    expect(inMailbox(lab!, subject)).to.equal(false);
    await relayedBy(lab!, mailhost, relay);
  });
});
