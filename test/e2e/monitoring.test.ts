// Operations against real Postfix over the test sshd on 127.0.0.1 (the two-instance lab): check --live
// compares the certificate the relay really serves with the project's, catches a renewed file that
// Postfix has not reloaded and names the reload; renew --deploy, run the way a timer runs it, renews a
// client near expiry (issued for 5 days by openssl), deploys only that client, and mail keeps relaying.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, labPrerequisites, requirePrerequisites, sleep, type Lab } from '../support/lab.js';
import { CLI, type CliResult, type TestProject } from '../support/project.js';
import { startSshLab, stopSshLab, type SshLab } from '../support/ssh-lab-settings.js';
import { sshdPrerequisites, type Sshd } from '../support/sshd.js';
import { certFingerprint, serialOf } from '../support/certs.js';
import { parseExposition, promtool, valueOf } from '../support/prometheus.js';
import { daysLeft, reissue } from '../support/reissue.js';

const RELAY = 'relayhost.example.test';
const CLIENT = 'mailhost.example.test';

interface CheckJson {
  ok: boolean;
  hosts: { fqdn: string; ok: boolean; checks: { name: string; ok: boolean; expected: string; actual: string }[] }[];
}

const reloads = (lab: Lab, which: 'client' | 'relay') => (lab.maillog(which).match(/postfix\/master\[\d+\]: reload -- /g) ?? []).length;

describe('e2e: monitoring the hosts, the served certificate, unattended renewal', function () {
  let lab: Lab | undefined;
  let sshd: Sshd | undefined;
  let proj: TestProject | undefined;
  let remoteDir = '';

  const cli = (args: string[]) => proj!.cli(args);
  const explain = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  const checkJson = (args: string[] = []) => {
    const r = cli(['check', '--live', '--json', ...args]);
    return { r, out: JSON.parse(r.stdout) as CheckJson };
  };
  const liveItem = (out: CheckJson, prefix: string) => out.hosts.find((h) => h.fqdn === CLIENT)!.checks.find((c) => c.name.startsWith(prefix));
  const metrics = () => {
    const r = cli(['status', '--format', 'prometheus']);
    expect(r.code, explain(r)).to.equal(0);
    expect(promtool(['check', 'metrics'], r.stdout).code).to.equal(0);
    return parseExposition(r.stdout);
  };
  const relays = async (what: string) => {
    const subject = `${what} ${Date.now()}`;
    await lab!.inject({ from: `root@${CLIENT}`, to: 'rcpt@example.org', subject });
    expect(await lab!.waitForDelivery(subject)).to.include('X-Rcpt-Args: <rcpt@example.org>');
  };

  const parts: SshLab = {};

  before(async function () {
    requirePrerequisites(this, labPrerequisites(), sshdPrerequisites());
    ({ sshd, lab, proj } = await startSshLab(parts, RELAY, CLIENT));
    remoteDir = `${lab!.root}/etc/postfix-tls-based-relaying`;
    for (const args of [['build', '-q'], ['deploy', '-q']]) {
      const r = cli(args);
      expect(r.code, explain(r)).to.equal(0);
    }
  });

  after(async function () {
    await stopSshLab(parts);
  });

  it('after deploy: mail relays, the metrics say deployed and current, check --live sees the right certificates', async function () {
    await relays('deployed');
    const m = metrics();
    for (const h of [RELAY, CLIENT]) {
      expect(valueOf(m, 'postfix_tls_relay_bundle_current', { host: h }), h).to.equal(1);
      expect(valueOf(m, 'postfix_tls_relay_bundle_last_seen_timestamp_seconds', { host: h, source: 'deploy' })).to.be.within(Date.now() / 1000 - 300, Date.now() / 1000 + 1);
    }
    const { r, out } = checkJson();
    expect(r.code, explain(r)).to.equal(0);
    const served = liveItem(out, 'live certificate served');
    expect(served?.ok, JSON.stringify(served)).to.equal(true);
    // The fingerprint on the wire is openssl's of the project's relay certificate.
    expect(served!.actual).to.include(`serial ${serialOf(proj!.file(`certs/smtpd-server/${RELAY}.crt.pem`)).slice(0, 8)}`);
    expect(served!.actual).to.include(certFingerprint(proj!.file(`certs/smtpd-server/${RELAY}.crt.pem`)).slice(0, 23));
    const presented = liveItem(out, 'live client certificate presented');
    expect(presented?.ok, JSON.stringify(presented)).to.equal(true);
    expect(presented!.actual).to.match(/ listed$/);
    const nagios = cli(['check', '--live', '--nagios']);
    expect(nagios.code, explain(nagios)).to.equal(0);
    expect(nagios.stdout).to.match(new RegExp(`^POSTFIX-TLS-RELAY OK - 2 host\\(s\\), all \\d+ checks OK, next expiry .* \\| '${RELAY}'=\\d+d;30;14;; '${CLIENT}'=\\d+d;30;14;;\\n$`));
    expect(valueOf(metrics(), 'postfix_tls_relay_bundle_last_seen_timestamp_seconds', { host: CLIENT, source: 'check' })).to.be.above(0);
  });

  it('a renewed relay certificate put in place by hand without a reload: check --live FAILs naming the reload', async function () {
    const remoteCert = `${remoteDir}/smtpd-server/${RELAY}.crt.pem`;
    const oldServed = certFingerprint(remoteCert);
    // An smtpd that has served a session stays idle with the certificate it loaded at start.
    expect(checkJson().r.code).to.equal(0);
    const renew = cli(['renew', RELAY, '-q']);
    expect(renew.code, explain(renew)).to.equal(0);
    const bundled = proj!.file(`out/${RELAY}/root${remoteCert}`);
    fs.copyFileSync(bundled, `${remoteCert}.new`);
    fs.renameSync(`${remoteCert}.new`, remoteCert); // the admin's "cp", no reload
    expect(certFingerprint(remoteCert)).to.not.equal(oldServed);

    const { r, out } = checkJson();
    expect(r.code, explain(r)).to.equal(1);
    const relayFile = out.hosts.find((h) => h.fqdn === RELAY)!.checks.find((c) => c.name === `file ${remoteCert}`);
    expect(relayFile?.ok, 'the file on the relay is the new one').to.equal(true);
    const served = liveItem(out, 'live certificate served')!;
    expect(served.ok).to.equal(false);
    expect(served.actual).to.include(oldServed.slice(0, 23));
    expect(served.actual).to.match(/the file on relayhost\.example\.test is the new one but Postfix still serves the old one; reload it: ssh .*root@127\.0\.0\.1 'postfix -c \S+ reload'$/);
    const text = cli(['check', '--live']);
    expect(text.stdout).to.match(/^ {2}FAIL {2}live certificate served on \[relayhost\.example\.test\]:\d+: expected the project's current relay certificate/m);
    const nagios = cli(['check', '--live', '--nagios']);
    expect(nagios.code, explain(nagios)).to.equal(2);
    expect(nagios.stdout).to.match(/^POSTFIX-TLS-RELAY CRITICAL - mailhost\.example\.test: live certificate served on /);

    // The reload as printed, run as printed: the relay serves the new certificate.
    const reload = /reload it: (.*)$/.exec(served.actual)![1]!;
    const rl = spawnSync('sh', ['-c', reload], { cwd: proj!.dir, encoding: 'utf8' });
    expect(rl.status, rl.stderr).to.equal(0);
    await sleep(1500); // master restarts its children
    const after = checkJson();
    expect(after.r.code, explain(after.r)).to.equal(0);
    expect(liveItem(after.out, 'live certificate served')!.actual).to.include(certFingerprint(remoteCert).slice(0, 23));
    await relays('after reload');
  });

  it('renew --deploy from a timer-like run renews the client near expiry, deploys only it, silently; mail keeps relaying', async function () {
    // The client runs a certificate that expires in 5 days: the hosts' view is CRITICAL.
    reissue(proj!, 'smtp-client', CLIENT, ['-days', '5']);
    for (const args of [['build', '-q'], ['deploy', '-q']]) {
      const r = cli(args);
      expect(r.code, explain(r)).to.equal(0);
    }
    const remoteCert = `${remoteDir}/smtp-client/${CLIENT}.crt.pem`;
    expect(daysLeft(remoteCert)).to.be.within(4, 5);
    const critical = cli(['check', '--nagios']);
    expect(critical.code, explain(critical)).to.equal(2);
    expect(critical.stdout).to.match(new RegExp(`^POSTFIX-TLS-RELAY CRITICAL - ${CLIENT}: deployed certificate expires in [45] day\\(s\\)`));
    const relaySeen = valueOf(metrics(), 'postfix_tls_relay_bundle_last_seen_timestamp_seconds', { host: RELAY });
    const relayReloads = reloads(lab!, 'relay');
    const oldSerial = serialOf(remoteCert);

    // As systemd runs it: no terminal, stdin from /dev/null, a minimal environment.
    await sleep(1100); // a later second than the last record
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, GNUPGHOME: proj!.env.GNUPGHOME, LANG: 'C.UTF-8' };
    const run = spawnSync(process.execPath, [CLI, 'renew', '--deploy', '--within', '10', '-C', proj!.dir], { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    expect(run.status, `${run.stdout}\n${run.stderr}`).to.equal(0);
    expect(run.stdout).to.equal('');
    expect(run.stderr).to.equal('');

    expect(serialOf(remoteCert)).to.not.equal(oldSerial);
    expect(certFingerprint(remoteCert)).to.equal(certFingerprint(proj!.file(`certs/smtp-client/${CLIENT}.crt.pem`)));
    expect(daysLeft(remoteCert)).to.be.above(300);
    const m = metrics();
    expect(valueOf(m, 'postfix_tls_relay_bundle_current', { host: CLIENT })).to.equal(1);
    expect(valueOf(m, 'postfix_tls_relay_bundle_current', { host: RELAY })).to.equal(1);
    // The relay's files did not change (same key: same fingerprint), so it was not deployed again.
    expect(valueOf(m, 'postfix_tls_relay_bundle_last_seen_timestamp_seconds', { host: RELAY })).to.equal(relaySeen);
    await relays('renewed unattended');
    expect(reloads(lab!, 'relay')).to.equal(relayReloads);
    const ok = cli(['check', '--live', '--nagios']);
    expect(ok.code, explain(ok)).to.equal(0);

    // Nothing due: a second run does nothing and says nothing.
    const again = spawnSync(process.execPath, [CLI, 'renew', '--deploy', '-C', proj!.dir], { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    expect([again.status, again.stdout, again.stderr]).to.deep.equal([0, '', '']);
  });

  it('renew --deploy: a client that cannot be reached is one line and exit 1; the next run delivers it', async function () {
    reissue(proj!, 'smtp-client', CLIENT, ['-days', '5']);
    const b = cli(['build', '-q']);
    expect(b.code, explain(b)).to.equal(0);
    const port = await freePort();
    const down = cli(['renew', '--deploy', '--within', '10', '--set', `smtp_client_ssh_port=${port}`]);
    expect(down.code, explain(down)).to.equal(1);
    expect(down.stdout).to.equal('');
    const lines = down.stderr.trim().split('\n');
    expect(lines, down.stderr).to.have.length(1);
    expect(lines[0]).to.match(new RegExp(`^postfix-tls-relay: ${CLIENT}: cannot reach root@127\\.0\\.0\\.1 port ${port}: `));
    expect(valueOf(metrics(), 'postfix_tls_relay_bundle_current', { host: CLIENT })).to.equal(0);
    // Renewed already, nothing due: the host a run could not reach still gets its files.
    const next = cli(['renew', '--deploy', '--within', '10']);
    expect([next.code, next.stdout, next.stderr], explain(next)).to.deep.equal([0, '', '']);
    expect(certFingerprint(`${remoteDir}/smtp-client/${CLIENT}.crt.pem`)).to.equal(certFingerprint(proj!.file(`certs/smtp-client/${CLIENT}.crt.pem`)));
    expect(valueOf(metrics(), 'postfix_tls_relay_bundle_current', { host: CLIENT })).to.equal(1);
    await relays('delivered on the next run');
  });
});
