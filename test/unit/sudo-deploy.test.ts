// The pure parts of deploying through sudo (lib/remote/sudo.ts, host-commands.ts) and of resolving the
// relay as the client's Postfix does (lookup parsing in live.ts, the smtp_client_host_lookup setting).
// Remote command lines are split by the real sh, as the host's login shell would.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { asRoot, STAGE_DIR, sudoersLine, sudoFailure, usesSudo } from '../../lib/remote/sudo.js';
import { hostCommands, rootJobs, sudoersLines } from '../../lib/remote/host-commands.js';
import { lookupModes, resolveArgv, resolveCheck } from '../../lib/remote/live.js';
import { checkRootJobs } from '../../lib/remote/compare.js';
import { clientConfig } from '../../lib/postfix/config.js';
import { reasonOf } from '../../lib/remote/run.js';
import { loadSettings, type Settings } from '../../lib/settings/index.js';
import { checkHostLookup } from '../../lib/settings/validate.js';
import type { Section } from '../../lib/remote/probe.js';

const BASE = 'domain := example.test\nsmtp_client_hostname := mailhost\nsmtpd_server_hostname := relayhost\n';
const settings = (extra = ''): Settings => loadSettings({ projectDir: '/nonexistent', text: { name: 'settings.mk', content: BASE + extra } });
const asDeploy = () => settings('smtp_client_ssh_user := deploy\nsmtpd_server_ssh_user := deploy\n');

/** The words the real sh makes of a remote command string (what ssh hands to the login shell). */
function shWords(remote: string): string[] {
  const out = execFileSync('sh', ['-c', `w() { printf '%s\\0' "$@"; }; w ${remote}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

/** The remote command of an ssh Command (its last argument). */
const remoteOf = (argv: readonly string[]) => argv.at(-1)!;

describe('sudo for a non-root ssh user', () => {
  it('root runs argv as it is; another user through sudo -n, or sudo -S -p "" with a password on stdin', () => {
    const s = asDeploy();
    const root = settings().server;
    expect([usesSudo(root), usesSudo(s.server)]).to.deep.equal([false, true]);
    expect(asRoot(root, ['sh', '/x/apply.sh'])).to.deep.equal(['sh', '/x/apply.sh']);
    expect(asRoot(root, ['sh', '/x/apply.sh'], 'stdin')).to.deep.equal(['sh', '/x/apply.sh']);
    expect(asRoot(s.server, ['sh', '/x/apply.sh'])).to.deep.equal(['sudo', '-n', '--', 'sh', '/x/apply.sh']);
    expect(asRoot(s.server, ['sh', '/x/apply.sh'], 'stdin')).to.deep.equal(['sudo', '-S', '-p', '', '--', 'sh', '/x/apply.sh']);
  });

  it('a sudoers line names the absolute program and escapes what sudoers(5) treats specially in arguments', () => {
    const h = asDeploy().server;
    expect(sudoersLine(h, ['sh', '/etc/x/apply.sh'])).to.equal('deploy ALL=(root) NOPASSWD: /bin/sh /etc/x/apply.sh');
    expect(sudoersLine(h, ['rsync', '--chown=root:root', 'a,b', 'c*?[d]', 'back\\slash'])).to.equal(
      'deploy ALL=(root) NOPASSWD: /usr/bin/rsync --chown\\=root\\:root a\\,b c\\*\\?\\[d\\] back\\\\slash',
    );
    expect(sudoersLine(h, ['postfix', '-c', '/etc/postfix', 'reload'])).to.equal('deploy ALL=(root) NOPASSWD: /usr/sbin/postfix -c /etc/postfix reload');
  });

  it("sudo's refusals become one line naming the host, the user and what to do; anything else is not sudo's", () => {
    const h = asDeploy().clients[0]!;
    const lines = ['deploy ALL=(root) NOPASSWD: /bin/sh /x'];
    const who = /^mailhost\.example\.test: sudo as deploy@mailhost\.example\.test/;
    const pw = sudoFailure(h, 'sudo: a password is required\n', lines)!;
    expect(pw).to.match(who).and.match(/wants a password; run with --ask-sudo-pass \(-K\), or add to \/etc\/sudoers\.d\/postfix-tls-relay there .*: deploy ALL=\(root\) NOPASSWD: \/bin\/sh \/x$/);
    expect(sudoFailure(h, 'sudo: a terminal is required to read the password; either use the -S option', lines)).to.match(/wants a password/);
    expect(sudoFailure(h, 'sudo: 1 incorrect password attempt\n', lines)).to.match(/the sudo password was not accepted/);
    expect(sudoFailure(h, 'Sorry, user deploy is not allowed to execute \'/bin/sh /y\' as root on mailhost.\n', lines)).to.match(who).and.match(/is not allowed to run what deploy needs; add to/);
    expect(sudoFailure(h, 'deploy is not in the sudoers file.  This incident will be reported.\n', lines)).to.match(/is not allowed to run/);
    expect(sudoFailure(h, 'bash: line 1: sudo: command not found\n', lines)).to.match(/^mailhost\.example\.test: sudo is not installed on mailhost\.example\.test \(Debian package sudo\), needed for deploy/);
    expect(sudoFailure(h, 'rsync: connection unexpectedly closed\n', lines)).to.equal(undefined);
    expect(lines.every((l) => pw.includes(l))).to.equal(true);
  });
});

describe('deploy commands per host', () => {
  it('as root: the prerequisite check, rsync straight to / as root, apply.sh; no stage, no sudoers lines', () => {
    const s = settings();
    const c = hostCommands(s, s.server, ['BatchMode=yes']);
    expect(c.stage).to.equal(null);
    expect(c.sudoers).to.deep.equal([]);
    expect(c.sudoStdin).to.equal(false);
    expect(c.rsync.argv[0]).to.equal('rsync');
    expect(c.rsync.argv).to.include('--chown=root:root');
    expect(c.rsync.argv.at(-1)).to.equal('root@relayhost.example.test:/');
    expect(shWords(remoteOf(c.apply.argv))).to.deep.equal(rootJobs(s, s.server).apply);
    const pre = remoteOf(c.prerequisites.argv);
    expect(pre).to.include('for p in rsync postconf postfix sh; do command -v "$p"');
    expect(pre).to.not.include('sudo');
    expect(rootJobs(s, s.server).install).to.equal(null);
  });

  it('as a sudo user: stage into his own directory (no --chown), then each root job exactly as one sudoers line allows it', () => {
    const s = asDeploy();
    for (const host of [s.server, s.clients[0]!]) {
      const c = hostCommands(s, host, []);
      const j = rootJobs(s, host);
      // Stage: the bundle's files into ~/STAGE_DIR, owned by the user; nothing that needs root there.
      expect(c.stage!.argv).to.include('--mkpath');
      expect(c.stage!.argv).to.not.include('--chown=root:root');
      expect(c.stage!.argv.at(-1)).to.equal(`deploy@${host.fqdn}:${STAGE_DIR}/`);
      // Install: rsync from the stage to /, as root, removing the staged copies.
      expect(j.install!.slice(0, 1)).to.deep.equal(['rsync']);
      expect(j.install).to.include('--remove-source-files').and.include('--chown=root:root');
      expect(j.install!.filter((a) => a.startsWith(`${STAGE_DIR}/./`))).to.have.length(c.stage!.argv.filter((a) => a.includes('/root/./')).length);
      expect(j.install!.at(-1)).to.equal('/');
      expect(shWords(remoteOf(c.rsync.argv))).to.deep.equal(['sudo', '-n', '--', ...j.install!]);
      expect(shWords(remoteOf(c.apply.argv))).to.deep.equal(['sudo', '-n', '--', ...j.apply]);
      // Every root command deploy and check run has its line, and there are no others.
      const expected = [j.install!, j.apply, j.undeploy, j.status, j.reload, ...checkRootJobs(s, host, true)].map((a) => sudoersLine(host, a));
      expect(c.sudoers).to.deep.equal(expected);
      expect(sudoersLines(s, host)).to.deep.equal(expected);
      expect(new Set(c.sudoers).size).to.equal(c.sudoers.length);
      for (const l of c.sudoers) expect(l).to.match(/^deploy ALL=\(root\) NOPASSWD: \/\S+ /);
      // The prerequisite check asks sudo -n -l about the install and apply lines (runs neither).
      const pre = remoteOf(c.prerequisites.argv);
      expect(pre).to.include('for p in rsync postconf postfix sh sudo;');
      expect(pre).to.include(`sudo -n -l -- ${remoteOf(c.rsync.argv).replace(/^sudo -n -- /, '')} >/dev/null 2>&1 || { echo sudo-refused;`);
    }
  });

  it('with --ask-sudo-pass: sudo -S everywhere, no sudo -l in the prerequisite check (it would want the password)', () => {
    const s = asDeploy();
    const c = hostCommands(s, s.clients[0]!, [], 'stdin');
    expect(c.sudoStdin).to.equal(true);
    expect(shWords(remoteOf(c.apply.argv)).slice(0, 5)).to.deep.equal(['sudo', '-S', '-p', '', '--']);
    expect(remoteOf(c.reload.argv)).to.include("sudo -S -p '' -- postfix -c /etc/postfix status");
    expect(remoteOf(c.prerequisites.argv)).to.not.include('sudo -n -l');
  });

  it('a host without rsync: the real cause, not rsync\'s closing line', () => {
    expect(reasonOf('bash: line 1: rsync: command not found\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: error in rsync protocol data stream (code 12) at io.c(232) [sender=3.2.7]\n'))
      .to.equal('bash: line 1: rsync: command not found');
    expect(reasonOf('sh: 1: rsync: not found\nrsync error: error in rsync protocol data stream (code 12)\n')).to.equal('sh: 1: rsync: not found');
  });
});

describe('the relay as the client\'s Postfix resolves it', () => {
  const sec = (out: string, exit = 0): Section => ({ out, exit });
  const found = sec('10.231.47.4     STREAM relayhost.example.test\n10.231.47.4     DGRAM\n10.231.47.4     RAW\n');
  const none = sec('', 2);

  it('smtp_host_lookup values: dns, native, both in order; anything else means Postfix\'s default dns', () => {
    expect(lookupModes('dns')).to.deep.equal(['dns']);
    expect(lookupModes('native')).to.deep.equal(['native']);
    expect(lookupModes('dns, native')).to.deep.equal(['dns', 'native']);
    expect(lookupModes('native,dns')).to.deep.equal(['native', 'dns']);
    expect(lookupModes('')).to.deep.equal(['dns']);
    expect(lookupModes('bogus')).to.deep.equal(['dns']);
    const s = settings();
    expect(resolveArgv(s.server, 'dns')).to.deep.equal(['getent', '-s', 'dns', 'ahosts', 'relayhost.example.test']);
    expect(resolveArgv(s.server, 'native')).to.deep.equal(['getent', 'ahosts', 'relayhost.example.test']);
  });

  it('OK with the addresses and the mechanism that found them; FAIL naming the relay and the two remedies', () => {
    const s = settings();
    const ok = resolveCheck(s.server, sec('dns\n'), (m) => (m === 'dns' ? found : none));
    expect(ok).to.deep.include({ ok: true, actual: '10.231.47.4 (dns)', mode: 'dns' });
    expect(ok.name).to.equal('relay relayhost.example.test resolves as Postfix looks it up (smtp_host_lookup = dns)');
    const hostsOnly = resolveCheck(s.server, sec('dns\n'), (m) => (m === 'native' ? found : none));
    expect(hostsOnly.ok).to.equal(false);
    expect(hostsOnly.mode).to.equal(undefined);
    expect(hostsOnly.actual).to.match(/^relayhost\.example\.test not found by dns; it is found by the system resolver \(e\.g\. \/etc\/hosts\) only, which Postfix does not use with this setting; add a DNS record for relayhost\.example\.test, or set smtp_host_lookup = dns, native on the client \(smtp_client_host_lookup := dns, native in settings\.mk, then deploy client\)$/);
    const both = resolveCheck(s.server, sec('dns, native\n'), (m) => (m === 'native' ? found : none));
    expect(both).to.deep.include({ ok: true, mode: 'native', actual: '10.231.47.4 (native)' });
    const nowhere = resolveCheck(s.server, sec('dns, native\n'), () => none);
    expect(nowhere.ok).to.equal(false);
    expect(nowhere.actual).to.match(/^relayhost\.example\.test not found by dns, native; add a DNS record/);
    // postconf failed: Postfix's default applies.
    expect(resolveCheck(s.server, sec('postconf: fatal: …', 1), (m) => (m === 'native' ? found : none)).ok).to.equal(false);
    // getent said something that is no address.
    expect(resolveCheck(s.server, sec('dns\n'), () => sec('getent: bad\n', 0)).ok).to.equal(false);
  });

  it('smtp_client_host_lookup: validated, written the way postconf prints it, and set on the clients only when given', () => {
    expect(checkHostLookup('dns, native')).to.equal(undefined);
    expect(checkHostLookup('native')).to.equal(undefined);
    expect(checkHostLookup('dns native')).to.equal(undefined);
    expect(checkHostLookup('dns, dns')).to.match(/is not a Postfix smtp_host_lookup; use dns, native or "dns, native"/);
    expect(checkHostLookup('nis')).to.match(/"nis" is not a Postfix smtp_host_lookup/);
    expect(() => settings('smtp_client_host_lookup := dns,files\n')).to.throw(/settings\.mk:4: smtp_client_host_lookup = "dns,files" is not a Postfix smtp_host_lookup/);
    const set = settings('smtp_client_host_lookup := dns,native\n');
    expect(set.clientHostLookup).to.equal('dns, native');
    const main = clientConfig(set, set.clients[0]!).main;
    expect(main.filter((p) => p.name === 'smtp_host_lookup')).to.deep.equal([{ name: 'smtp_host_lookup', value: 'dns, native' }]);
    const unset = settings();
    expect(unset.clientHostLookup).to.equal(undefined);
    expect(clientConfig(unset, unset.clients[0]!).main.map((p) => p.name)).to.not.include('smtp_host_lookup');
  });
});
