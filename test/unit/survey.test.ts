// deploy's first remote shell per host (lib/remote/survey.ts), run by the real sh on real files: apply.sh
// runs only when every file is what rsync would install; a changed byte, mode or a symbolic link says
// "differs" and runs nothing. And the ssh commands of a shared connection (programs/ssh.ts).
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleManifest } from '../../lib/plan/bundle.js';
import { controlExit, controlMaster, rsyncFiles, ssh, userSharesConnections } from '../../lib/programs/ssh.js';
import { hostCommands } from '../../lib/remote/host-commands.js';
import { parseSurvey } from '../../lib/remote/survey.js';
import { privateBase } from '../../lib/remote/connections.js';
import { loadSettings, type Settings } from '../../lib/settings/index.js';

const asRootHere = process.getuid?.() === 0;

describe('the survey: one remote shell for a host with nothing to change', function () {
  let dir: string;
  let s: Settings;
  const digests = new Map<string, string>();

  before(function () {
    // Files owned by root, as rsync --chown=root:root leaves them: only root can make them.
    if (!asRootHere) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-survey-'));
    s = loadSettings({ projectDir: '/nonexistent', text: { name: 'settings.mk', content: `domain := example.test\nsmtp_client_hostname := mailhost\nsmtpd_server_hostname := relayhost\ncerts_remote_dir := ${dir}/certs\nsmtpd_server_postfix_dir := ${dir}/postfix\n` } });
    for (const f of bundleManifest(s, s.server).files) {
      const body = f.kind === 'script' ? `#!/bin/sh\necho 'apply: ${s.server.fqdn}: unchanged'\n` : `${f.kind} of ${f.remote}\n`;
      fs.mkdirSync(path.dirname(f.remote), { recursive: true });
      fs.writeFileSync(f.remote, body, { mode: f.mode });
      fs.chmodSync(f.remote, f.mode);
      digests.set(f.local, createHash('sha256').update(body).digest('hex'));
    }
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const survey = () => {
    const c = hostCommands(s, s.server, [], 'nopasswd', undefined, (local) => digests.get(local)).survey;
    const r = spawnSync('sh', ['-c', c.argv.at(-1)!], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, parsed: parseSurvey(r.stdout) };
  };
  const file = (kind: string) => bundleManifest(s, s.server).files.find((f) => f.kind === kind)!.remote;

  it('every file as the build recorded it: apply.sh runs, and its output is the survey\'s', () => {
    const r = survey();
    expect(r.parsed).to.deep.equal({ missing: [], sudoRefused: null, differs: false, applied: true });
    expect([r.code, r.out]).to.deep.equal([0, `apply: ${s.server.fqdn}: unchanged\n`]);
  });

  it('a changed byte, a changed mode, a symbolic link, a missing file: "differs", apply.sh not run', () => {
    const cert = file('cert');
    const saved = fs.readFileSync(cert);
    fs.writeFileSync(cert, Buffer.concat([saved, Buffer.from('x')]));
    expect(survey()).to.deep.include({ code: 0, out: 'differs\n' });
    fs.writeFileSync(cert, saved);
    expect(survey().parsed.applied).to.equal(true);

    const key = file('key');
    fs.chmodSync(key, 0o640);
    expect(survey().out).to.equal('differs\n');
    fs.chmodSync(key, 0o600);

    const table = file('table');
    fs.renameSync(table, `${table}.real`);
    fs.symlinkSync(`${table}.real`, table);
    expect(survey().out).to.equal('differs\n');
    fs.unlinkSync(table);
    expect(survey().out).to.equal('differs\n');
    fs.renameSync(`${table}.real`, table);
    expect(survey().parsed.applied).to.equal(true);
  });

  it('without the build\'s digests every file counts as different', () => {
    const c = hostCommands(s, s.server, [], 'nopasswd').survey;
    expect(spawnSync('sh', ['-c', c.argv.at(-1)!], { encoding: 'utf8' }).stdout).to.equal('differs\n');
  });

  it('parses missing programs and sudo\'s refusal', () => {
    expect(parseSurvey('missing rsync\nmissing sudo\n')).to.deep.include({ missing: ['rsync', 'sudo'], applied: false });
    expect(parseSurvey('sudo-refused\nSorry, user deploy is not allowed to execute …\n')).to.deep.include({ sudoRefused: 'Sorry, user deploy is not allowed to execute …', applied: false });
  });
});

describe('ssh commands of a shared connection', () => {
  const t = { user: 'root', host: 'relay.example.org', port: 2222 };
  it('the master: foreground, no terminal, its options before the user\'s; each command gets the socket first; the close', () => {
    expect(controlMaster(t, ['IdentityFile=/k'], '/run/x/0').argv).to.deep.equal(['ssh', '-T', '-p', '2222', '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-o', 'ControlPath=/run/x/0', '-o', 'IdentityFile=/k', 'root@relay.example.org', 'exec cat >/dev/null']);
    const c = ssh(t, ['IdentityFile=/k'], 'true');
    expect(c.via!.withOptions(['ControlMaster=no', 'ControlPath=/run/x/0']).argv).to.deep.equal(['ssh', '-p', '2222', '-o', 'ControlMaster=no', '-o', 'ControlPath=/run/x/0', '-o', 'IdentityFile=/k', 'root@relay.example.org', 'true']);
    const r = rsyncFiles({ root: 'out/r/root', files: ['/etc/a'], target: t, options: ['IdentityFile=/k'] }).via!.withOptions(['ControlMaster=no', 'ControlPath=/run/x/0']);
    expect(r.argv).to.include('ssh -p 2222 -o ControlMaster=no -o ControlPath=/run/x/0 -o IdentityFile=/k');
    expect(execFileSync('sh', ['-c', `printf '%s\\n' ${r.display}`], { encoding: 'utf8' }).trim().split('\n')).to.deep.equal(r.argv);
    expect(controlExit(t, '/run/x/0').display).to.equal('ssh -o ControlPath=/run/x/0 -O exit root@relay.example.org');
    expect([userSharesConnections(['ControlPath=none']), userSharesConnections(['controlmaster=auto']), userSharesConnections(['IdentityFile=/k'])]).to.deep.equal([true, true, false]);
  });

  it('the sockets\' parent: 0700, owned by the user, under XDG_RUNTIME_DIR or ~/.cache; a wider mode is narrowed', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-home-'));
    try {
      const base = privateBase({}, home)!;
      expect(base).to.equal(path.join(home, '.cache', 'postfix-tls-relay'));
      expect(fs.statSync(base).mode & 0o777).to.equal(0o700);
      fs.chmodSync(base, 0o755);
      expect(privateBase({}, home)).to.equal(base);
      expect(fs.statSync(base).mode & 0o777).to.equal(0o700);
      expect(privateBase({ XDG_RUNTIME_DIR: path.join(home, 'run') }, home)).to.equal(path.join(home, 'run', 'postfix-tls-relay'));
      // A path too long for a socket, or with characters ssh would expand: none of them.
      expect(privateBase({}, `${home}/${'x'.repeat(80)}`)).to.equal(null);
      expect(privateBase({}, `${home}/a%b`)).to.equal(null);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
