// deploy and check against a real sshd on 127.0.0.1 and the two-instance Postfix lab: both roles are
// deployed to this machine over ssh, mail is relayed with the deployed certificates, check compares,
// finds tampering and is satisfied again after a redeploy.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, labPrerequisites, requirePrerequisites, sleep, type Lab } from '../support/lab.js';
import type { CliResult, TestProject } from '../support/project.js';
import { sshdPrerequisites, type Sshd } from '../support/sshd.js';
import { startSshLab, stopSshLab, type SshLab } from '../support/ssh-lab-settings.js';

const RELAY = 'relayhost.example.test';
const CLIENT = 'mailhost.example.test';

interface DeployJson {
  ok: boolean;
  hosts: { fqdn: string; role: string; state: string; files: { path: string; change: string }[]; applyChanges: number | null; reloaded: boolean; error: string | null }[];
}
interface CheckJson {
  ok: boolean;
  failed: number;
  hosts: { fqdn: string; ok: boolean; checks: { name: string; ok: boolean; expected: string; actual: string }[] }[];
}

function json<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.isFile() ? [p] : [];
  });
}

const modeOf = (p: string) => (fs.statSync(p).mode & 0o7777).toString(8);
const reloads = (lab: Lab, which: 'client' | 'relay') => (lab.maillog(which).match(/postfix\/master\[\d+\]: reload -- /g) ?? []).length;

describe('e2e: deploy and check over ssh', function () {
  let lab: Lab | undefined;
  let sshd: Sshd | undefined;
  let proj: TestProject | undefined;
  let remoteDir = '';
  let allowlist = '';

  const cli = (args: string[]) => proj!.cli(args);
  const explain = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- sshd log (tail)\n${sshd?.log().split('\n').slice(-15).join('\n')}`;

  const parts: SshLab = {};

  before(async function () {
    requirePrerequisites(this, labPrerequisites(), sshdPrerequisites());
    ({ sshd, lab, proj } = await startSshLab(parts, RELAY, CLIENT));
    remoteDir = `${lab!.root}/etc/postfix-tls-based-relaying`;
    allowlist = `${lab!.relayDir}/relay_clientcerts`;
    const b = cli(['build', '-q']);
    expect(b.code, explain(b)).to.equal(0);
  });

  after(async function () {
    await stopSshLab(parts);
  });

  it('deploy -n prints the exact rsync and ssh commands and connects to nothing', function () {
    const before = sshd!.log();
    const r = cli(['deploy', '-n']);
    expect(r.code, explain(r)).to.equal(0);
    const lines = r.stdout.split('\n');
    const rsync = lines.filter((l) => l.trim().startsWith('rsync '));
    expect(rsync, r.stdout).to.have.length(2);
    expect(rsync[0]).to.include(`out/${RELAY}/root/.${allowlist}`); // the relay comes first
    expect(rsync[1]).to.include(`out/${CLIENT}/root/.`);
    for (const l of rsync) {
      expect(l).to.match(/^\s*rsync --relative --no-implied-dirs --perms --chmod=a-st,go-w --owner --group --chown=root:root --checksum --itemize-changes -e 'ssh -p \d+ -o /);
      expect(l).to.match(/ root@127\.0\.0\.1:\/$/);
    }
    expect(r.stdout).to.include(`root@127.0.0.1 'sh ${remoteDir}/apply-smtpd-server.sh'`);
    expect(r.stdout).to.include(`root@127.0.0.1 'sh ${remoteDir}/apply-smtp-client.sh'`);
    expect(r.stdout).to.include('StrictHostKeyChecking=yes').and.not.include('StrictHostKeyChecking=no');
    expect(fs.existsSync(remoteDir), 'nothing deployed').to.equal(false);
    expect(sshd!.log()).to.equal(before);
  });

  it('refuses to deploy a bundle the build has not brought up to date', function () {
    const r = cli(['deploy', '--set', 'smtpd_server_tls_loglevel=2']);
    expect(r.code, explain(r)).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/the build is not up to date .*run postfix-tls-relay build first/);
    expect(fs.existsSync(remoteDir)).to.equal(false);
  });

  it('deploys the relay, then the client: files in place, parent directories untouched, no CA key', function () {
    // The lab root plays /etc: an existing directory whose mode must survive (rsync --no-implied-dirs).
    fs.chmodSync(lab!.root, 0o711);
    const tmpMode = modeOf('/tmp');
    const r = cli(['deploy', '--json']);
    expect(r.code, explain(r)).to.equal(0);
    const out = json<DeployJson>(r);
    expect(out.ok).to.equal(true);
    expect(out.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[RELAY, 'updated'], [CLIENT, 'updated']]);
    expect(out.hosts[0]!.files.map((f) => f.path).sort()).to.deep.equal([
      allowlist,
      `${remoteDir}/apply-smtpd-server.sh`,
      `${remoteDir}/ca/example.test-ca.crt.pem`,
      `${remoteDir}/smtpd-server/${RELAY}.crt.pem`,
      `${remoteDir}/smtpd-server/${RELAY}.key.pem`,
    ].sort());
    expect(out.hosts[0]!.applyChanges).to.be.greaterThan(0);

    expect(modeOf(lab!.root)).to.equal('711');
    expect(modeOf('/tmp')).to.equal(tmpMode);
    for (const [file, mode] of [[`${remoteDir}/smtpd-server/${RELAY}.key.pem`, '600'], [`${remoteDir}/smtp-client/${CLIENT}.key.pem`, '600'], [`${remoteDir}/smtp-client/${CLIENT}.crt.pem`, '644'], [allowlist, '644']] as const) {
      expect(modeOf(file), file).to.equal(mode);
      expect(fs.statSync(file).uid, file).to.equal(0);
    }
    for (const file of ['ca/example.test-ca.crt.pem', `smtp-client/${CLIENT}.crt.pem`, `smtpd-server/${RELAY}.key.pem`]) {
      expect(fs.readFileSync(path.join(remoteDir, file)).equals(fs.readFileSync(proj!.file(`certs/${file}`))), file).to.equal(true);
    }

    // The CA private key never reaches a host: list every file on the "remote" side.
    const caKey = fs.readFileSync(proj!.file('certs/ca/example.test-ca.key.pem'));
    const remote = walk(lab!.root);
    expect(remote).to.include(`${remoteDir}/smtpd-server/${RELAY}.key.pem`);
    for (const f of remote) {
      expect(path.basename(f), f).to.not.match(/-ca\.key\.pem$/);
      const data = fs.readFileSync(f);
      expect(data.equals(caKey), f).to.equal(false);
      expect(data.includes('ENCRYPTED PRIVATE KEY'), f).to.equal(false);
    }
  });

  it('the deployed configuration relays mail over verified TLS with the client certificate', async function () {
    const l = lab!;
    const subject = `deployed ${Date.now()}`;
    const mark = { client: l.logMark('client'), relay: l.logMark('relay') };
    await l.inject({ from: `root@${CLIENT}`, to: 'rcpt@example.org', subject });
    const mail = await l.waitForDelivery(subject);
    expect(mail).to.include('X-Rcpt-Args: <rcpt@example.org>');
    await l.waitForLog('client', new RegExp(`Verified TLS connection established to ${RELAY.replace(/\./g, '\\.')}\\[127\\.0\\.0\\.1\\]:${l.relayPort}`), 30_000, mark.client);
    await l.waitForLog('relay', /Trusted TLS connection established from /, 30_000, mark.relay);
  });

  it('check --live: every item OK, including a STARTTLS handshake from the client host', function () {
    const r = cli(['check', '--live', '--json']);
    expect(r.code, explain(r)).to.equal(0);
    const out = json<CheckJson>(r);
    expect(out.ok).to.equal(true);
    expect(out.hosts.map((h) => h.fqdn)).to.deep.equal([RELAY, CLIENT]);
    const names = out.hosts.flatMap((h) => h.checks.map((c) => `${h.fqdn} ${c.name}`));
    for (const want of [
      `${RELAY} master.cf ${lab!.relayPort}/inet`,
      `${RELAY} master.cf ${lab!.relayPort}/inet -o relay_clientcerts`,
      `${RELAY} file ${allowlist}`,
      `${RELAY} key ${remoteDir}/smtpd-server/${RELAY}.key.pem matches the certificate`,
      `${CLIENT} main.cf relayhost`,
      `${CLIENT} main.cf default_transport`,
      `${CLIENT} master.cf postfix-tls-relay/unix -o smtp_tls_chain_files`,
      `${CLIENT} expiry ${remoteDir}/smtp-client/${CLIENT}.crt.pem`,
      `${CLIENT} certificate ${remoteDir}/smtp-client/${CLIENT}.crt.pem signed by the CA`,
    ]) expect(names, want).to.include(want);
    const live = out.hosts[1]!.checks.find((c) => c.name.startsWith('live STARTTLS'));
    expect(live?.actual).to.match(/^Verified TLS connection established to relayhost\.example\.test\[127\.0\.0\.1\]:\d+: TLSv1\.[23] .*client-signature.*; EHLO 250$/);
    // relay_tls_profile (issue 30): the protocol and suite negotiated, and the profile's parameters compared.
    const negotiated = out.hosts[1]!.checks.find((c) => c.name === `negotiated TLS with [${RELAY}]:${lab!.relayPort} (relay_tls_profile = intermediate)`);
    expect(negotiated, JSON.stringify(out.hosts[1]!.checks)).to.deep.include({ ok: true });
    expect(negotiated!.actual).to.match(/^TLSv1\.3 with TLS_\S+ \(key-exchange /);
    for (const want of [`${RELAY} master.cf ${lab!.relayPort}/inet -o tls_medium_cipherlist`, `${RELAY} master.cf ${lab!.relayPort}/inet -o smtpd_tls_mandatory_protocols`, `${CLIENT} master.cf postfix-tls-relay/unix -o smtp_tls_mandatory_exclude_ciphers`]) expect(names, want).to.include(want);

    const text = cli(['check']);
    expect(text.code, explain(text)).to.equal(0);
    expect(text.stdout).to.match(/^ {2}OK {4}master\.cf postfix-tls-relay\/unix -o smtp_tls_security_level: secure$/m);
    expect(text.stdout).to.match(/^all \d+ checks OK$/m);
  });

  it('a second deploy transfers nothing, changes no setting, does not reload and says "unchanged"', async function () {
    const l = lab!;
    const stamp = (f: string) => fs.statSync(f).mtimeMs;
    const files = [`${l.clientDir}/main.cf`, `${l.relayDir}/master.cf`, `${l.relayDir}/main.cf`, allowlist, `${remoteDir}/smtp-client/${CLIENT}.crt.pem`];
    const before = files.map(stamp);
    const reloadsBefore = [reloads(l, 'client'), reloads(l, 'relay')];
    const r = cli(['deploy']);
    expect(r.code, explain(r)).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, -1)).to.deep.equal([`${RELAY}: unchanged`, `${CLIENT}: unchanged`]);
    expect(lines.at(-1)).to.match(/^deploy: 2 host\(s\): 0 updated, 2 unchanged, 0 failed, 0 skipped \(--jobs 4, [\d.]+ s\)$/);
    expect(files.map(stamp)).to.deep.equal(before);
    await sleep(1000); // a reload would have been logged by now
    expect([reloads(l, 'client'), reloads(l, 'relay')]).to.deep.equal(reloadsBefore);
    const j = json<DeployJson>(cli(['deploy', '--json']));
    expect(j.hosts.map((h) => [h.state, h.files.length, h.applyChanges, h.reloaded])).to.deep.equal([['unchanged', 0, 0, false], ['unchanged', 0, 0, false]]);
  });

  it('the printed commands replay as printed, and audit.log records them', function () {
    const dry = json<{ hosts: { fqdn: string; rsync: string; apply: string }[] }>(cli(['deploy', '-n', '--json']));
    for (const h of dry.hosts) {
      for (const cmd of [h.rsync, h.apply]) {
        const r = spawnSync('sh', ['-c', cmd], { cwd: proj!.dir, encoding: 'utf8' });
        expect(r.status, `${cmd}\n${r.stdout}\n${r.stderr}`).to.equal(0);
        if (cmd === h.rsync) expect(r.stdout, 'nothing to transfer').to.equal('');
        else expect(r.stdout.trim().split('\n').at(-1)).to.equal(`apply: ${h.fqdn}: unchanged`);
      }
    }
    const audit = fs.readFileSync(proj!.file('audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: string; command: string; exit: number });
    // As run: the same command riding the run's connection to the host (its socket, made per run, put first).
    const shared = / -o ControlMaster=no -o ControlPath=\/\S+\/ssh-\d+-\w+\/\d+/;
    for (const h of dry.hosts) {
      for (const [step, cmd] of [['rsync', h.rsync], ['apply', h.apply]] as const) {
        const ran = audit.find((a) => a.step === `deploy-${step}:${h.fqdn}`)!.command;
        expect(ran).to.match(shared);
        expect(ran.replace(shared, '')).to.equal(cmd);
      }
    }
    const checks = audit.filter((a) => a.step === `check:${CLIENT}`);
    expect(checks.length).to.be.at.least(1);
    const replay = spawnSync('sh', ['-c', checks.at(-1)!.command], { cwd: proj!.dir, encoding: 'utf8' });
    expect(replay.status, replay.stderr).to.equal(0);
    expect(replay.stdout).to.match(/@@postfix-tls-relay-[0-9a-f]{12} main\nrelayhost = \[relayhost\.example\.test\]:\d+\n/);
  });

  it('check names a tampered setting and a tampered file; a redeploy repairs both', async function () {
    const l = lab!;
    await l.postconf('client', ['-P', 'postfix-tls-relay/unix/smtp_tls_security_level=may']);
    fs.appendFileSync(allowlist, 'AA:BB:CC intruder.example.test\n');
    const bad = cli(['check']);
    expect(bad.code, explain(bad)).to.equal(1);
    const fails = bad.stdout.split('\n').filter((x) => x.startsWith('  FAIL'));
    expect(fails, bad.stdout).to.have.length(2);
    expect(fails).to.include('  FAIL  master.cf postfix-tls-relay/unix -o smtp_tls_security_level: expected secure, actual may');
    expect(fails.find((f) => f.startsWith(`  FAIL  file ${allowlist}: expected sha256:`))).to.include('not in the local allowlist: AA:BB:CC intruder.example.test');
    expect(bad.stdout).to.match(/^2 of \d+ checks FAILED$/m);
    const badJson = json<CheckJson>(cli(['check', '--json']));
    expect([badJson.ok, badJson.failed, badJson.hosts.map((h) => h.ok)]).to.deep.equal([false, 2, [false, false]]);

    const relayMark = l.logMark('relay');
    const r = cli(['deploy', '--json']);
    expect(r.code, explain(r)).to.equal(0);
    const out = json<DeployJson>(r);
    // The relay only got its allowlist back: apply.sh had nothing to change, so deploy reloads the
    // relay itself (texthash tables are read when a process starts).
    expect(out.hosts[0]!.files.map((f) => f.path)).to.deep.equal([allowlist]);
    expect([out.hosts[0]!.applyChanges, out.hosts[0]!.reloaded]).to.deep.equal([0, true]);
    await l.waitForLog('relay', /postfix\/master\[\d+\]: reload -- /, 10_000, relayMark);
    expect([out.hosts[1]!.files.length, out.hosts[1]!.applyChanges]).to.deep.equal([0, 1]);
    const good = cli(['check']);
    expect(good.code, explain(good)).to.equal(0);
    expect(fs.readFileSync(allowlist, 'utf8')).to.not.include('intruder');
  });

  it('deploy client alone first makes sure the relay lists the client', function () {
    const ok = cli(['deploy', 'client']);
    expect(ok.code, explain(ok)).to.equal(0);
    expect(ok.stdout.trim().split('\n')[0]).to.equal(`${CLIENT}: unchanged`);
    expect(ok.stdout.trim().split('\n')).to.have.length(2); // and the summary line
    const saved = fs.readFileSync(allowlist, 'utf8');
    try {
      fs.writeFileSync(allowlist, saved.split('\n').filter((l) => !l.endsWith(` ${CLIENT}`)).join('\n'));
      const dry = cli(['deploy', 'client', '-n']);
      expect(dry.stdout).to.match(new RegExp(`would read its allowlist.*\\n.*'PATH=.* p allowlist cat -- ${allowlist.replace(/\./g, '\\.')}'$`, 'm'));
      const r = cli(['deploy', 'client', '--json']);
      expect(r.code, explain(r)).to.equal(1);
      expect(json<DeployJson>(r).hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[CLIENT, 'skipped']]);
      expect(r.stderr).to.include(`postfix-tls-relay: the relay ${RELAY} does not list ${CLIENT} as built in etc/postfix/relay_clientcerts; deploy the relay first`);
    } finally {
      fs.writeFileSync(allowlist, saved);
    }
  });

  it('an unreachable client fails with one clear line and leaves the relay deployed', async function () {
    const closed = await freePort();
    const r = cli(['deploy', '--set', `smtp_client_ssh_port=${closed}`, '--json']);
    expect(r.code, explain(r)).to.equal(1);
    const out = json<DeployJson>(r);
    expect(out.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[RELAY, 'unchanged'], [CLIENT, 'failed']]);
    const err = r.stderr.trim().split('\n');
    expect(err, r.stderr).to.have.length(1);
    expect(err[0]).to.match(new RegExp(`^postfix-tls-relay: ${CLIENT}: cannot reach root@127\\.0\\.0\\.1 port ${closed}: ssh: connect to host 127\\.0\\.0\\.1 port ${closed}: Connection refused; check smtp_client_ssh_user, smtp_client_ssh_host, smtp_client_ssh_port, ssh_options`));
    const check = cli(['check', 'server']);
    expect(check.code, explain(check)).to.equal(0);
    const down = cli(['check', 'client', '--set', `smtp_client_ssh_port=${closed}`]);
    expect(down.code).to.equal(1);
    expect(down.stdout).to.match(new RegExp(`FAIL {2}ssh root@127\\.0\\.0\\.1 port ${closed}: expected reachable, actual .*Connection refused`));
  });

  it('an unreachable relay stops the deploy before any client', async function () {
    const closed = await freePort();
    fs.chmodSync(`${remoteDir}/smtp-client/${CLIENT}.crt.pem`, 0o640); // would be repaired by a client deploy
    try {
      const r = cli(['deploy', '--set', `smtpd_server_ssh_port=${closed}`, '--json']);
      expect(r.code, explain(r)).to.equal(1);
      const out = json<DeployJson>(r);
      expect(out.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[RELAY, 'failed'], [CLIENT, 'skipped']]);
      expect(out.hosts[1]!.error).to.match(/relay .* was not deployed/);
      expect(modeOf(`${remoteDir}/smtp-client/${CLIENT}.crt.pem`)).to.equal('640');
    } finally {
      fs.chmodSync(`${remoteDir}/smtp-client/${CLIENT}.crt.pem`, 0o644);
    }
  });

  it('verifies host keys: --ssh-option wins over ssh_options, and an unknown host key is refused', function () {
    const empty = path.join(proj!.dir, 'empty_known_hosts');
    fs.writeFileSync(empty, '');
    const r = cli(['deploy', 'server', '--ssh-option', `UserKnownHostsFile=${empty}`]);
    expect(r.code, explain(r)).to.equal(1);
    expect(r.stderr).to.match(/cannot reach root@127\.0\.0\.1 port \d+: Host key verification failed\./);
    const spaced = cli(['deploy', '--ssh-option', 'IdentityFile=x y']);
    expect(spaced.code).to.equal(2);
    expect(spaced.stderr).to.equal('postfix-tls-relay: --ssh-option "IdentityFile=x y" is not an ssh option of the form KEY=VALUE (no spaces), e.g. --ssh-option IdentityFile=~/.ssh/relay_ed25519\n');
    const quoted = cli(['check', '--ssh-option', "IdentityFile='x'"]);
    expect(quoted.code).to.equal(2);
    expect(quoted.stderr).to.match(/^postfix-tls-relay: --ssh-option "IdentityFile='x'" contains a quote or backslash/);
  });

  it('never ships an encrypted private key (the CA key) even if one is put into a bundle', function () {
    const bundled = proj!.file(`out/${RELAY}/root${remoteDir}/smtpd-server/${RELAY}.key.pem`);
    const saved = fs.readFileSync(bundled);
    try {
      fs.copyFileSync(proj!.file('certs/ca/example.test-ca.key.pem'), bundled);
      const r = cli(['deploy', 'server']);
      expect(r.code, explain(r)).to.equal(1);
      expect(r.stderr).to.match(/must never leave this workstation/);
      expect(fs.readFileSync(`${remoteDir}/smtpd-server/${RELAY}.key.pem`).equals(saved)).to.equal(true);
    } finally {
      fs.writeFileSync(bundled, saved, { mode: 0o600 });
    }
    const ok = cli(['check', 'server']);
    expect(ok.code, explain(ok)).to.equal(0);
  });

  it('a key rotation: the relay lists old and new, the client gets its new key, then the relay drops the old one', async function () {
    const l = lab!;
    const renew = cli(['renew', CLIENT, '--rekey', '-q']);
    expect(renew.code, explain(renew)).to.equal(0);
    const entries = (text: string) => text.split('\n').filter((x) => x.endsWith(` ${CLIENT}`));
    expect(entries(fs.readFileSync(proj!.file('etc/postfix/relay_clientcerts'), 'utf8')), 'old and new listed').to.have.length(2);
    expect(json<{ rotations: { fqdn: string }[] }>(cli(['status', '--json'])).rotations.map((x) => x.fqdn)).to.deep.equal([CLIENT]);
    const dry = cli(['deploy', '-n']);
    expect(dry.stdout).to.include(`then, for ${CLIENT} (in a key rotation): end the rotation, rebuild the allowlist and deploy ${RELAY} again`);

    const r = cli(['deploy', '--json']);
    expect(r.code, explain(r)).to.equal(0);
    const out = json<DeployJson & { rotationsFinished: string[]; relayAfterRotation: DeployJson['hosts'][number] | null }>(r);
    expect(out.hosts.map((h) => [h.fqdn, h.state])).to.deep.equal([[RELAY, 'updated'], [CLIENT, 'updated']]);
    expect(out.hosts[1]!.files.map((f) => f.path)).to.include.members([`${remoteDir}/smtp-client/${CLIENT}.key.pem`, `${remoteDir}/smtp-client/${CLIENT}.crt.pem`]);
    expect(out.rotationsFinished).to.deep.equal([CLIENT]);
    expect(out.relayAfterRotation?.state).to.equal('updated');
    expect(out.relayAfterRotation?.files.map((f) => f.path)).to.deep.equal([allowlist]);

    const local = fs.readFileSync(proj!.file('etc/postfix/relay_clientcerts'), 'utf8');
    expect(entries(local)).to.have.length(1);
    expect(fs.readFileSync(allowlist, 'utf8')).to.equal(local);
    expect(fs.readFileSync(`${remoteDir}/smtp-client/${CLIENT}.key.pem`).equals(fs.readFileSync(proj!.file(`certs/smtp-client/${CLIENT}.key.pem`)))).to.equal(true);
    expect(json<{ rotations: unknown[] }>(cli(['status', '--json'])).rotations).to.deep.equal([]);

    const check = cli(['check', '--live']);
    expect(check.code, explain(check)).to.equal(0);
    const subject = `after rotation ${Date.now()}`;
    await l.inject({ from: `root@${CLIENT}`, to: 'rcpt@example.org', subject });
    await l.waitForDelivery(subject);
  });

  // Last: switches the project to a hash: allowlist, so every command carries the --set.
  it('with a hash: allowlist, check compares the .db with its source; a redeploy runs postmap', async function () {
    const l = lab!;
    const hash = ['--set', 'relay_clientcerts_table_type=hash'];
    const b = cli(['build', '-q', ...hash]);
    expect(b.code, explain(b)).to.equal(0);
    const d = cli(['deploy', 'server', '--json', ...hash]);
    expect(d.code, explain(d)).to.equal(0);
    expect(json<DeployJson>(d).hosts[0]!.applyChanges).to.be.greaterThan(0);
    expect(fs.existsSync(`${allowlist}.db`)).to.equal(true);
    const dbCheck = `table ${allowlist}.db newer than relay_clientcerts`;
    const ok = json<CheckJson>(cli(['check', 'server', '--json', ...hash]));
    expect(ok.hosts[0]!.checks.find((c) => c.name === dbCheck), JSON.stringify(ok)).to.include({ ok: true, actual: 'newer' });
    expect(ok.ok).to.equal(true);

    // An edit of the allowlist after the last postmap: the .db is older than its source.
    const past = new Date(fs.statSync(allowlist).mtimeMs - 120_000);
    fs.utimesSync(`${allowlist}.db`, past, past);
    const stale = cli(['check', 'server', ...hash]);
    expect(stale.code, explain(stale)).to.equal(1);
    expect(stale.stdout, stale.stdout).to.match(new RegExp(`^ {2}FAIL {2}${dbCheck.replace(/\./g, '\\.')}: expected postmap run after the last change, actual older by 12[01] s$`, 'm'));
    const again = json<DeployJson>(cli(['deploy', 'server', '--json', ...hash]));
    expect([again.hosts[0]!.files.length, again.hosts[0]!.applyChanges]).to.deep.equal([0, 1]);
    const fixed = cli(['check', 'server', ...hash]);
    expect(fixed.code, explain(fixed)).to.equal(0);

    const subject = `hash table ${Date.now()}`;
    await l.inject({ from: `root@${CLIENT}`, to: 'rcpt@example.org', subject });
    await l.waitForDelivery(subject);
  });
});
