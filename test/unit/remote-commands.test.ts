// The ssh/rsync builders, the probe framing and the parsers of deploy and check, with the real sh.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { usesChainFiles } from '../../lib/remote/compare.js';
import { rsyncDestination, rsyncFiles, ssh, sshArgs } from '../../lib/programs/ssh.js';
import type { Command } from '../../lib/programs/command.js';
import { parseApplyResult, parseItemized } from '../../lib/remote/deploy.js';
import { liveCheck } from '../../lib/remote/live.js';
import { parsePostconf, parseSha256sum, parseStat, ProbeScript, STAT_FORMAT } from '../../lib/remote/probe.js';
import { reasonOf } from '../../lib/remote/run.js';
import { loadSettings } from '../../lib/settings/index.js';
import { sshOptionsFor } from '../../lib/remote/ssh-options.js';

const target = { user: 'root', host: 'relay.example.org', port: 2222 };
const OPTIONS = ['IdentityFile=/tmp/key', 'StrictHostKeyChecking=yes'];

/** What the real sh makes of a printed command: its words, NUL-separated, via a stand-in function. */
function wordsOf(cmd: Command): string[] {
  const program = cmd.argv[0]!;
  const out = execFileSync('sh', ['-c', `${program}() { printf '%s\\0' "$@"; }; ${cmd.display}`], { encoding: 'utf8' });
  return [program, ...out.split('\0').slice(0, -1)];
}

describe('ssh and rsync commands', () => {
  it('ssh: port and -o options, then user@host and one remote command; the display is the same words', () => {
    const c = ssh(target, OPTIONS, "sh '/etc/x y/apply.sh'");
    expect(c.argv).to.deep.equal(['ssh', '-p', '2222', '-o', 'IdentityFile=/tmp/key', '-o', 'StrictHostKeyChecking=yes', 'root@relay.example.org', "sh '/etc/x y/apply.sh'"]);
    expect(c.passphraseOnStdin).to.equal(false);
    expect(wordsOf(c)).to.deep.equal(c.argv);
  });

  it('rsync: only the listed files, relative to the bundle root, without implied directories, to user@host:/', () => {
    const c = rsyncFiles({ root: 'out/h.example.org/root/', files: ['/etc/postfix/relay_clientcerts', '/etc/ptr/ca/x.crt.pem'], target, options: OPTIONS });
    expect(c.argv).to.deep.equal([
      'rsync', '--relative', '--no-implied-dirs', '--perms', '--chmod=a-st,go-w', '--owner', '--group', '--chown=root:root', '--checksum', '--itemize-changes',
      '-e', 'ssh -p 2222 -o IdentityFile=/tmp/key -o StrictHostKeyChecking=yes',
      'out/h.example.org/root/./etc/postfix/relay_clientcerts', 'out/h.example.org/root/./etc/ptr/ca/x.crt.pem',
      'root@relay.example.org:/',
    ]);
    expect(c.argv).to.not.include('--times').and.not.include('-a');
    expect(wordsOf(c)).to.deep.equal(c.argv);
    expect(() => rsyncFiles({ root: 'r', files: [], target, options: [] })).to.throw(/no files/);
  });

  it('rsync destinations bracket IPv6 addresses', () => {
    expect(rsyncDestination({ user: 'deploy', host: '2001:db8::1', port: 22 })).to.equal('deploy@[2001:db8::1]:/');
    expect(rsyncDestination({ user: 'root', host: '192.0.2.1', port: 22 })).to.equal('root@192.0.2.1:/');
    expect(sshArgs({ user: 'root', host: 'h', port: 22 }, [])).to.deep.equal(['-p', '22']);
  });

  it('--ssh-option comes before ssh_options (ssh keeps the first value) and is validated', () => {
    const s = loadSettings({
      projectDir: '/nonexistent',
      text: { name: 'settings.mk', content: 'domain := example.org\nsmtp_client_hostname := a\nsmtpd_server_hostname := r\nssh_options := UserKnownHostsFile=/s/known BatchMode=yes\n' },
    });
    expect(sshOptionsFor(['UserKnownHostsFile=/cli/known'], s)).to.deep.equal(['UserKnownHostsFile=/cli/known', 'UserKnownHostsFile=/s/known', 'BatchMode=yes']);
    expect(sshOptionsFor(undefined, s)).to.deep.equal(['UserKnownHostsFile=/s/known', 'BatchMode=yes']);
    expect(() => sshOptionsFor(['Port 22'], s)).to.throw(/--ssh-option "Port 22" is not an ssh option of the form KEY=VALUE/);
    expect(() => sshOptionsFor(['IdentityFile="/k"'], s)).to.throw(/--ssh-option "IdentityFile=\"\/k\"" contains a quote or backslash/);
    const warnings: string[] = [];
    sshOptionsFor(['StrictHostKeyChecking=no'], s, { warn: (l: string) => warnings.push(l) } as never);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/turns off host key verification/);
  });

  it('names the ssh failure in rsync/ssh stderr', () => {
    const rsyncErr = 'ssh: connect to host 127.0.0.1 port 1: Connection refused\r\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: unexplained error (code 255) at io.c(232) [sender=3.2.7]\n';
    expect(reasonOf(rsyncErr)).to.equal('ssh: connect to host 127.0.0.1 port 1: Connection refused');
    expect(reasonOf("Warning: Permanently added '[127.0.0.1]:2' (ED25519) to the list of known hosts.\nHost key verification failed.\n")).to.equal('Host key verification failed.');
    expect(reasonOf('')).to.equal('no error message');
  });
});

describe('deploy output parsing', () => {
  it('rsync --itemize-changes lines become absolute paths with their change codes', () => {
    const out = '<f+++++++++ etc/postfix/relay_clientcerts\n.f...p..... etc/ptr/x.crt.pem\ncd+++++++++ etc/ptr/ca/\n<fcsT...... etc/ptr/apply.sh\n\n';
    expect(parseItemized(out)).to.deep.equal([
      { change: '<f+++++++++', path: '/etc/postfix/relay_clientcerts' },
      { change: '.f...p.....', path: '/etc/ptr/x.crt.pem' },
      { change: 'cd+++++++++', path: '/etc/ptr/ca' },
      { change: '<fcsT......', path: '/etc/ptr/apply.sh' },
    ]);
    expect(parseItemized('')).to.deep.equal([]);
  });

  it("apply.sh's last line: unchanged, N changes, or nothing usable", () => {
    expect(parseApplyResult('apply: installed /x\napply: h.example.org: 3 change(s) applied\n', 'h.example.org')).to.equal(3);
    expect(parseApplyResult('apply: h.example.org: unchanged\n', 'h.example.org')).to.equal(0);
    expect(parseApplyResult('apply: other.example.org: unchanged\n', 'h.example.org')).to.equal(undefined);
    expect(parseApplyResult('apply: h.example.org: unchanged\nsomething else\n', 'h.example.org')).to.equal(undefined);
  });
});

describe('check probe', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-probe-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('sections hold each command output byte for byte (with or without a final newline) and its exit code', () => {
    const withNl = path.join(dir, 'with newline');
    const without = path.join(dir, "it's");
    writeFileSync(withNl, 'line 1\nline 2\n');
    writeFileSync(without, 'no newline at the end');
    const p = new ProbeScript()
      .add('a', ['cat', '--', withNl])
      .add('b', ['cat', '--', without])
      .add('empty', ['true'])
      .add('missing', ['cat', '--', path.join(dir, 'nope')])
      .add('stat', ['stat', '-c', STAT_FORMAT, '--', withNl])
      .add('sha', ['sha256sum', '--', without])
      .add('trap', ['printf', '%s\\n', '@@postfix-tls-relay-exit 9', '@@postfix-tls-relay fake']);
    const out = execFileSync('sh', ['-c', p.text()], { encoding: 'utf8' });
    const probe = p.parse(out);
    expect([...probe.keys()]).to.deep.equal(['a', 'b', 'empty', 'missing', 'stat', 'sha', 'trap']);
    expect(probe.get('a')).to.deep.equal({ out: 'line 1\nline 2\n', exit: 0 });
    expect(probe.get('b')).to.deep.equal({ out: 'no newline at the end', exit: 0 });
    expect(probe.get('empty')).to.deep.equal({ out: '', exit: 0 });
    expect(probe.get('missing')!.exit).to.equal(1);
    expect(probe.get('missing')!.out).to.match(/No such file or directory\n$/);
    const st = parseStat(probe.get('stat')!.out);
    expect(st?.mode).to.match(/^0[0-7]{3}$/);
    expect(st?.owner).to.equal(`${process.getuid!()}:${process.getgid!()}`);
    expect(parseSha256sum(probe.get('sha')!.out)).to.equal(createHash('sha256').update('no newline at the end').digest('hex'));
    expect(probe.get('trap')).to.deep.equal({ out: '@@postfix-tls-relay-exit 9\n@@postfix-tls-relay fake\n', exit: 0 });
    expect(new ProbeScript().mark).to.not.equal(p.mark);
  });

  it('reads postconf name = value lines, also the -P form and empty values, and skips warnings', () => {
    const m = parsePostconf('relayhost = [r.example.org]:2500\nsmtp_tls_CApath =\npostconf: warning: bogus: unknown parameter\n2500/inet/smtpd_tls_req_ccert = yes\n');
    expect([...m]).to.deep.equal([['relayhost', '[r.example.org]:2500'], ['smtp_tls_CApath', ''], ['2500/inet/smtpd_tls_req_ccert', 'yes']]);
  });

  it('picks *_tls_chain_files from Postfix 3.4 on', () => {
    expect(['3.3.2', '3.4.0', '3.7.11', '4.0', '2.11.3'].map(usesChainFiles)).to.deep.equal([false, true, true, true, false]);
  });

  it('live: OK only for a verified connection whose EHLO inside TLS was accepted', () => {
    const s = loadSettings({ projectDir: '/nonexistent', text: { name: 'settings.mk', content: 'domain := example.test\nsmtp_client_hostname := mailhost\nsmtpd_server_hostname := relayhost\n' } });
    const pre = 'posttls-finger: Connected to relayhost.example.test[127.0.0.1]:2500\nposttls-finger: > STARTTLS\nposttls-finger: < 220 2.0.0 Ready to start TLS\n';
    const verified = 'posttls-finger: Verified TLS connection established to relayhost.example.test[127.0.0.1]:2500: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\nposttls-finger: > EHLO mailhost.example.test\n';
    const ok = liveCheck(s.server, { out: `${pre}${verified}posttls-finger: < 250-relayhost.example.test\nposttls-finger: < 250 CHUNKING\nposttls-finger: > QUIT\n`, exit: 0 });
    expect(ok.ok).to.equal(true);
    expect(ok.name).to.equal('live STARTTLS to [relayhost.example.test]:2500 with the client certificate');
    const refused = liveCheck(s.server, { out: `${pre}${verified}posttls-finger: < 421 4.7.1 relayhost.example.test Error: No client certificate presented\nposttls-finger: EHLO rejected: 421 4.7.1 relayhost.example.test Error: No client certificate presented\n`, exit: 0 });
    expect(refused.ok).to.equal(false);
    expect(refused.actual).to.match(/then < 421 4\.7\.1 .*No client certificate presented$/);
    const down = liveCheck(s.server, { out: 'posttls-finger: Failed to establish session to [relayhost.example.test]:2500 via relayhost.example.test: connect to relayhost.example.test[127.0.0.1]:2500: Connection refused\n', exit: 0 });
    expect([down.ok, down.actual]).to.deep.equal([false, 'Failed to establish session to [relayhost.example.test]:2500 via relayhost.example.test: connect to relayhost.example.test[127.0.0.1]:2500: Connection refused']);
    const untrusted = liveCheck(s.server, { out: `${pre}${verified.replace('Verified', 'Untrusted')}posttls-finger: < 250 CHUNKING\n`, exit: 0 });
    expect(untrusted.ok).to.equal(false);
    expect(liveCheck(s.server, { out: 'sh: 1: posttls-finger: not found\n', exit: 127 }).actual).to.match(/posttls-finger not found on the client host/);
  });
});
