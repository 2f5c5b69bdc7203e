// status --format prometheus and status/check --nagios on real certificates near expiry, expired,
// revoked but listed, and a CRL past its nextUpdate, all made by openssl with real dates (no clock is
// faked). The metrics are parsed by the real promtool; every expected value comes from openssl.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canStrace } from '../support/prereq.js';
import { freePort } from '../support/lab.js';
import { sh } from '../support/certs.js';
import { createProject, CLI, REPO_ROOT, settingsText, type CliResult, type TestProject } from '../support/project.js';
import { parseExposition, promtool, valueOf } from '../support/prometheus.js';
import { crlWithDates, daysLeft, notAfterSeconds, notBeforeSeconds, reissue } from '../support/reissue.js';

const D = 'example.test';
const RELAY = `relayhost.${D}`;
const MAIL = `mailhost.${D}`;
const CA = `certs/ca/${D}-ca.crt.pem`;
const CRL = `certs/ca/${D}-ca.crl.pem`;
const ALLOW = 'etc/postfix/relay_clientcerts';
const mailCert = `certs/smtp-client/${MAIL}.crt.pem`;
const relayCert = `certs/smtpd-server/${RELAY}.crt.pem`;
const LINE = /^POSTFIX-TLS-RELAY (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| [^\n]+)?\n$/;

describe('monitoring: Prometheus metrics and the Nagios plugin on real certificates', function () {
  let p: TestProject;
  const f = (rel: string) => p.file(rel);
  const explain = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  const nagios = (extra: string[] = []) => {
    const r = p.cli(['status', '--nagios', ...extra]);
    expect(r.stdout, explain(r)).to.match(LINE);
    expect(r.stderr, explain(r)).to.equal('');
    return r;
  };
  const metrics = () => {
    const r = p.cli(['status', '--format', 'prometheus']);
    expect(r.code, explain(r)).to.equal(0);
    const lint = promtool(['check', 'metrics'], r.stdout);
    expect(lint.code, `${lint.output}\n${r.stdout}`).to.equal(0);
    return parseExposition(r.stdout);
  };

  before(function () {
    p = createProject({ settings: (pass) => settingsText(pass, `smtp_client_ssh_host := 127.0.0.1\nsmtpd_server_ssh_host := 127.0.0.1`) });
    const b = p.cli(['build', '-q']);
    expect(b.code, explain(b)).to.equal(0);
  });

  after(function () {
    p?.dispose();
  });

  it('metrics pass promtool check metrics and carry openssl\'s dates, serials and the flags', function () {
    const m = metrics();
    for (const [file, cn] of [[CA, `${D} relay CA`], [relayCert, RELAY], [mailCert, MAIL]] as const) {
      const serial = BigInt(`0x${sh(`openssl x509 -in '${f(file)}' -noout -serial`).trim().replace(/^serial=/, '')}`).toString(10);
      const labels = { filepath: f(file), subject_CN: cn, serial_number: serial };
      expect(valueOf(m, 'x509_cert_not_after', labels), file).to.equal(notAfterSeconds(f(file)));
      expect(valueOf(m, 'x509_cert_not_before', labels), file).to.equal(notBeforeSeconds(f(file)));
    }
    expect(valueOf(m, 'x509_cert_not_after', { subject_CN: MAIL })).to.be.above(Date.now() / 1000 + 300 * 86400);
    expect(m.find((s) => s.name === 'x509_cert_not_after' && s.labels.subject_CN === MAIL)!.labels.issuer_CN).to.equal(`${D} relay CA`);
    expect(valueOf(m, 'postfix_tls_relay_cert_expiry_timestamp_seconds', { host: MAIL, role: 'client' })).to.equal(notAfterSeconds(f(mailCert)));
    expect(valueOf(m, 'postfix_tls_relay_cert_expiry_timestamp_seconds', { host: RELAY, role: 'server' })).to.equal(notAfterSeconds(f(relayCert)));
    expect(valueOf(m, 'postfix_tls_relay_cert_expiry_timestamp_seconds', { role: 'ca' })).to.equal(notAfterSeconds(f(CA)));
    expect(valueOf(m, 'postfix_tls_relay_cert_listed', { host: MAIL })).to.equal(1);
    expect(valueOf(m, 'postfix_tls_relay_cert_revoked', { host: MAIL })).to.equal(0);
    expect(valueOf(m, 'postfix_tls_relay_rotation_in_progress', { host: MAIL })).to.equal(0);
    expect(valueOf(m, 'postfix_tls_relay_crl_present')).to.equal(0);
    // Never deployed or checked: not current, and no time to report.
    expect(valueOf(m, 'postfix_tls_relay_bundle_current', { host: RELAY })).to.equal(0);
    expect(m.filter((s) => s.name === 'postfix_tls_relay_bundle_last_seen_timestamp_seconds')).to.have.length(0);
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(valueOf(m, 'postfix_tls_relay_info', { version, domain: D, relay: RELAY })).to.equal(1);
    expect(valueOf(m, 'postfix_tls_relay_problems')).to.equal(0);
  });

  it('-o FILE: written whole through a temp file in the same directory and rename(2), 0644, nothing left over', function () {
    if (!canStrace().ok) this.skip(); // the file is still checked below by the other tests' runs
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-textfile-'));
    try {
      const out = path.join(dir, 'postfix-tls-relay.prom');
      writeFileSync(out, 'old\n');
      const inode = statSync(out).ino;
      const trace = path.join(dir, 'strace.log');
      const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=rename,renameat,renameat2', '-o', trace, process.execPath, CLI, 'status', '--format', 'prometheus', '-o', out, '-C', p.dir], { env: p.env, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      const renames = readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes(out));
      expect(renames, readFileSync(trace, 'utf8')).to.have.length(1);
      expect(renames[0]).to.match(new RegExp(`"${dir}/\\.postfix-tls-relay\\.prom\\.tmp\\.\\d+".*"${out}"`));
      expect(readdirSync(dir).sort()).to.deep.equal(['postfix-tls-relay.prom', 'strace.log']);
      expect(statSync(out).ino).to.not.equal(inode);
      expect(statSync(out).mode & 0o777).to.equal(0o644);
      expect(promtool(['check', 'metrics'], readFileSync(out, 'utf8')).code).to.equal(0);
      expect(readFileSync(out, 'utf8')).to.equal(p.cli(['status', '--format', 'prometheus']).stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('plugin OK (exit 0) with perfdata per certificate, days as openssl counts them', function () {
    const r = nagios();
    expect(r.code, explain(r)).to.equal(0);
    expect(r.stdout).to.match(/^POSTFIX-TLS-RELAY OK - 3 certificate\(s\) valid, next expiry /);
    const perf = r.stdout.split(' | ')[1]!.trim().split(' ');
    expect(perf).to.deep.equal([
      `'${D}-ca'=${daysLeft(f(CA))}d;30;14;;`,
      `'${RELAY}'=${daysLeft(f(relayCert))}d;30;14;;`,
      `'${MAIL}'=${daysLeft(f(mailCert))}d;30;14;;`,
    ]);
    // The thresholds are the user's: a year is "soon" with --warn-days 400, critical with --crit-days 400.
    expect(nagios(['--warn-days', '400']).code).to.equal(1);
    expect(nagios(['--warn-days', '400', '--crit-days', '400']).code).to.equal(2);
  });

  it('WARNING (exit 1): a client certificate issued for 20 days', function () {
    reissue(p, 'smtp-client', MAIL, ['-days', '20']);
    const days = daysLeft(f(mailCert));
    expect(days).to.be.within(19, 20);
    const r = nagios();
    expect(r.code, explain(r)).to.equal(1);
    expect(r.stdout).to.include(`POSTFIX-TLS-RELAY WARNING - ${MAIL}: certificate expires in ${days} day(s) | `);
    expect(r.stdout).to.include(`'${MAIL}'=${days}d;30;14;;`);
    expect(valueOf(metrics(), 'postfix_tls_relay_cert_expiry_timestamp_seconds', { host: MAIL })).to.equal(notAfterSeconds(f(mailCert)));
  });

  it('CRITICAL (exit 2): within --crit-days, and expired (back-dated by openssl ca -startdate/-enddate)', function () {
    reissue(p, 'smtp-client', MAIL, ['-days', '10']);
    const soon = nagios();
    expect(soon.code, explain(soon)).to.equal(2);
    expect(soon.stdout).to.match(new RegExp(`^POSTFIX-TLS-RELAY CRITICAL - ${MAIL}: certificate expires in (9|10) day\\(s\\)`));

    reissue(p, 'smtp-client', MAIL, ['-startdate', '20200101000000Z', '-enddate', '20200201000000Z']);
    const gone = nagios();
    expect(gone.code, explain(gone)).to.equal(2);
    expect(gone.stdout).to.match(new RegExp(`^POSTFIX-TLS-RELAY CRITICAL - ${MAIL}: certificate expired \\d+ day\\(s\\) ago`));
    expect(gone.stdout).to.include(`'${MAIL}'=${daysLeft(f(mailCert))}d;30;14;;`);
    const m = metrics();
    expect(valueOf(m, 'x509_cert_not_after', { subject_CN: MAIL })).to.equal(Date.UTC(2020, 1, 1) / 1000);
    expect(valueOf(m, 'x509_cert_not_before', { subject_CN: MAIL })).to.equal(Date.UTC(2020, 0, 1) / 1000);
    expect(valueOf(m, 'postfix_tls_relay_problems')).to.be.at.least(1);
    reissue(p, 'smtp-client', MAIL, ['-days', '365']);
    expect(nagios().code).to.equal(0);
  });

  it('CRITICAL: revoked but still listed on the relay; the metrics say revoked 1, listed 1', function () {
    const listedBefore = readFileSync(f(ALLOW));
    const rv = p.cli(['revoke', MAIL, '-q']);
    expect(rv.code, explain(rv)).to.equal(0);
    const built = readFileSync(f(ALLOW));
    writeFileSync(f(ALLOW), listedBefore); // as if the allowlist had not been rebuilt
    try {
      const r = nagios();
      expect(r.code, explain(r)).to.equal(2);
      expect(r.stdout).to.include(`CRITICAL - ${MAIL}: revoked but still listed on the relay`);
      expect(r.stdout).to.not.include(`'${MAIL}'=`); // a revoked certificate is no longer in use
      const m = metrics();
      expect(valueOf(m, 'postfix_tls_relay_cert_revoked', { host: MAIL })).to.equal(1);
      expect(valueOf(m, 'postfix_tls_relay_cert_listed', { host: MAIL })).to.equal(1);
      expect(valueOf(m, 'postfix_tls_relay_crl_present')).to.equal(1);
      const next = Math.floor(Date.parse(sh(`openssl crl -in '${f(CRL)}' -noout -nextupdate`).trim().replace(/^nextUpdate=/, '')) / 1000);
      expect(valueOf(m, 'postfix_tls_relay_crl_next_update_timestamp_seconds')).to.equal(next);
    } finally {
      writeFileSync(f(ALLOW), built);
    }
    expect(nagios().code).to.equal(0);
  });

  it('CRITICAL: a CRL past its nextUpdate; WARNING when it is due within --crl-warn-days', function () {
    copyFileSync(f(CRL), `${f(CRL)}.good`);
    try {
      crlWithDates(p, CRL, '20200101000000Z', '20200102000000Z');
      const r = nagios();
      expect(r.code, explain(r)).to.equal(2);
      expect(r.stdout).to.match(/^POSTFIX-TLS-RELAY CRITICAL - CRL expired \d+ day\(s\) ago/);
      expect(valueOf(metrics(), 'postfix_tls_relay_crl_next_update_timestamp_seconds')).to.equal(Date.UTC(2020, 0, 2) / 1000);
      const r2 = nagios(['--crl-warn-days', '60']);
      expect(r2.code).to.equal(2);
      copyFileSync(`${f(CRL)}.good`, f(CRL));
      const due = nagios(['--crl-warn-days', '60']); // the tool's CRL is valid for crl_days = 30
      expect(due.code, explain(due)).to.equal(1);
      expect(due.stdout).to.match(/^POSTFIX-TLS-RELAY WARNING - CRL next update in \d+ day\(s\)/);
    } finally {
      copyFileSync(`${f(CRL)}.good`, f(CRL));
      rmSync(`${f(CRL)}.good`);
    }
  });

  it('UNKNOWN (exit 3) when the project cannot be read or the thresholds make no sense, on stdout', function () {
    const none = spawnSync(process.execPath, [CLI, 'status', '--nagios', '-C', path.join(p.dir, 'nonexistent')], { env: p.env, encoding: 'utf8' });
    expect(none.status).to.equal(3);
    expect(none.stdout).to.match(/^POSTFIX-TLS-RELAY UNKNOWN - cannot read the project: .*settings file not found/);
    const bad = nagios(['--set', 'domain=not a domain']);
    expect(bad.code).to.equal(3);
    expect(bad.stdout).to.match(/^POSTFIX-TLS-RELAY UNKNOWN - .*domain/);
    for (const args of [['--crit-days', '40'], ['--warn-days', 'soon'], ['--no-such-option']]) {
      const r = nagios(args);
      expect(r.code, args.join(' ')).to.equal(3);
      expect(r.stdout).to.match(/^POSTFIX-TLS-RELAY UNKNOWN - /);
    }
  });

  it('check --nagios: a host that cannot be reached over ssh is UNKNOWN (exit 3), one line', async function () {
    const port = await freePort(); // nothing listens there on 127.0.0.1
    const r = p.cli(['check', 'server', '--nagios', '--set', `smtpd_server_ssh_port=${port}`]);
    expect(r.code, explain(r)).to.equal(3);
    expect(r.stdout).to.match(new RegExp(`^POSTFIX-TLS-RELAY UNKNOWN - ${RELAY}: .*cannot reach root@127\\.0\\.0\\.1 port ${port}.*\\n$`));
    expect(r.stdout.split('\n')).to.have.length(2);
  });
});

describe('unattended renewal: the CA passphrase without a terminal', function () {
  let p: TestProject;
  let home = '';
  const KEYPASS = 'gpg key passphrase 0815';

  before(function () {
    // A GnuPG key protected by a passphrase, as on an admin's workstation.
    home = mkdtempSync(path.join(os.tmpdir(), 'ptr-gpg-locked-'));
    const env = { ...process.env, GNUPGHOME: home };
    const gen = spawnSync('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--quick-generate-key', 'ops <ops@example.invalid>', 'future-default', 'default', 'never'], { env, input: `${KEYPASS}\n`, encoding: 'utf8' });
    expect(gen.status, gen.stderr).to.equal(0);
    writeFileSync(path.join(home, 'gpg-agent.conf'), 'allow-preset-passphrase\n');
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env }); // the next agent reads the option
    p = createProject({
      settings: (pass) => settingsText(pass, 'smtp_client_ssh_host := 127.0.0.1\nsmtpd_server_ssh_host := 127.0.0.1'),
      gpg: {
        home,
        encrypt(secret, file) {
          const r = spawnSync('gpg', ['--batch', '--yes', '--trust-model', 'always', '--encrypt', '--recipient', 'ops@example.invalid', '--output', file], { env, input: secret });
          expect(r.status).to.equal(0);
        },
        dispose() { /* below */ },
      },
    });
    // The first build asks: done here through the agent with the passphrase preset.
    preset(true);
    const b = p.cli(['build', '-q']);
    expect(b.code, `${b.stdout}\n${b.stderr}`).to.equal(0);
    preset(false);
  });

  after(function () {
    spawnSync('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: home } });
    p?.dispose();
    rmSync(home, { recursive: true, force: true });
  });

  /** Puts the key's passphrase into gpg-agent, as an admin does once after boot; or stops the agent, which forgets it. */
  function preset(on: boolean): void {
    const env = { ...process.env, GNUPGHOME: home };
    if (!on) {
      spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env }); // as after a reboot: the cache is gone
      return;
    }
    const grips = spawnSync('gpg', ['--batch', '--with-colons', '--with-keygrip', '--list-secret-keys'], { env, encoding: 'utf8' }).stdout
      .split('\n').filter((l) => l.startsWith('grp:')).map((l) => l.split(':')[9]!);
    for (const g of grips) {
      const r = spawnSync('/usr/lib/gnupg/gpg-preset-passphrase', ['--preset', g], { env, input: `${KEYPASS}\n`, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
    }
  }

  /** As a timer runs it: no terminal (setsid), stdin /dev/null. */
  const timerRun = (args: string[]) => {
    const r = spawnSync('setsid', ['-w', process.execPath, CLI, ...args, '-C', p.dir], { env: p.env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  it('without the passphrase cached: exit 1, one line saying what an unattended run needs, nothing renewed', function () {
    const serial = sh(`openssl x509 -in '${p.file(mailCert)}' -noout -serial`);
    const r = timerRun(['renew', '--deploy', '--all']);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.equal('');
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).to.match(/^postfix-tls-relay: certs_passphrase_file: gpg cannot decrypt .*: gpg: public key decryption failed: Inappropriate ioctl for device; gpg-agent found no way to ask for your key's passphrase .*unattended \(timer, cron\): preset it in gpg-agent \(gpg-preset-passphrase\) or use a passphrase-less GnuPG key for this file/);
    expect(sh(`openssl x509 -in '${p.file(mailCert)}' -noout -serial`)).to.equal(serial);
  });

  it('with the passphrase preset in gpg-agent: the same run renews', function () {
    const serial = sh(`openssl x509 -in '${p.file(mailCert)}' -noout -serial`);
    preset(true);
    const r = timerRun(['renew', '--all', '-q']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('');
    expect(sh(`openssl x509 -in '${p.file(mailCert)}' -noout -serial`)).to.not.equal(serial);
  });
});
