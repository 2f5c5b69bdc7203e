// The Docker image, built and run with podman exactly as the README says (its `docker build` and
// `docker run` lines, `docker` being podman here): for the caller's uid — root, then a user with uid
// 4321 — with the project and a GnuPG home mounted. Runs with --network none; storage in the test's
// temp dir. Not part of `npm test` (it takes a minute and needs podman): `npm run test:container`, CI.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requirePrerequisites } from '../support/lab.js';
import { BASE_IMAGE, createPodman, importStandInBase, podmanPrerequisites, type Podman } from '../support/podman.js';
import { REPO_ROOT } from '../support/project.js';
import { TEST_RECIPIENT } from '../support/gpg.js';

const IMAGE = 'postfix-tls-relay';
const MARKER = 'planted-secret-9f3c1e';
const USER_ID = 4321;
const GROUP_ID = 4322;

/** The README's `docker build` and `docker run` command lines (continuations joined). */
function readmeCommands(): { build: string; run: string } {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Docker\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!.replace(/\\\n\s*/g, '');
  const line = (word: string) => block.split('\n').find((l) => l.startsWith(`docker ${word} `))!;
  return { build: line('build'), run: line('run') };
}

interface Caller {
  uid: number;
  gid: number;
  home: string;
  project: string;
}

describe('the Docker image (podman, the README\'s command lines)', function () {
  this.timeout(900_000);
  let tmp: string;
  let podman: Podman;
  let shim: string;
  let context: string;
  const cmds = readmeCommands();
  const agents: Caller[] = [];

  /** Runs a README line in sh as `caller` would type it: docker is podman, id answers with the caller's ids. */
  const sh = (line: string, caller: Caller, cwd: string, opts: { tty?: boolean } = {}) => {
    const script = `id() { case "$1" in -u) echo ${caller.uid} ;; -g) echo ${caller.gid} ;; *) command id "$@" ;; esac; }\n${line}`;
    const env = { ...podman.env, PATH: `${shim}:${process.env.PATH}`, HOME: caller.home, GNUPGHOME: path.join(caller.home, '.gnupg'), NO_COLOR: '1' };
    const argv = opts.tty ? ['script', '--quiet', '--return', '--command', `sh -c '${script.replace(/'/g, `'\\''`)}'`, '/dev/null'] : ['sh', '-c', script];
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env, encoding: 'utf8', timeout: 600_000, input: '' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  /** The README's run line with another command than `build` ("any command works the same way"). */
  const run = (caller: Caller, args: string, opts: { tty?: boolean; withoutAgentLine?: boolean } = {}) => {
    let line = cmds.run.replace(/ build$/, ` ${args}`);
    if (opts.withoutAgentLine) line = line.replace(/-v "\$\(gpgconf --list-dirs agent-socket\):[^"]*" /, '');
    return sh(line, caller, caller.project, opts);
  };

  function makeCaller(name: string, uid: number, gid: number): Caller {
    const home = path.join(tmp, name);
    const caller = { uid, gid, home, project: path.join(home, 'relay-ca') };
    for (const d of [home, path.join(home, '.ssh'), caller.project]) fs.mkdirSync(d, { recursive: true });
    fs.mkdirSync(path.join(home, '.gnupg'), { mode: 0o700 });
    execFileSync('chown', ['-R', `${uid}:${gid}`, home]);
    return caller;
  }
  /** The caller's own gpg-agent, as on a desktop: its socket is what the README's run line mounts. */
  function startAgent(caller: Caller): void {
    execFileSync('setpriv', [`--reuid=${caller.uid}`, `--regid=${caller.gid}`, '--clear-groups', 'gpg-connect-agent', '/bye'], { env: { ...process.env, HOME: caller.home, GNUPGHOME: path.join(caller.home, '.gnupg') }, stdio: 'pipe' });
    agents.push(caller);
  }
  const gpgAs = (caller: Caller, args: string[], input?: string) => execFileSync('setpriv', [`--reuid=${caller.uid}`, `--regid=${caller.gid}`, '--clear-groups', 'gpg', '--batch', ...args],
    { env: { ...process.env, HOME: caller.home, GNUPGHOME: path.join(caller.home, '.gnupg') }, input, stdio: 'pipe' });
  const filesUnder = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => path.join(e.parentPath, e.name));

  before(function () {
    requirePrerequisites(this, podmanPrerequisites());
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-image-'));
    fs.chmodSync(tmp, 0o711); // the uid-4321 caller's home is in it
    podman = createPodman(path.join(tmp, 'podman'));
    console.log(`      stand-in base: ${importStandInBase(podman)}`);
    shim = path.join(tmp, 'bin');
    fs.mkdirSync(shim);
    // docker = podman with the stand-in base; builds may use the network (apt, npm), runs get none.
    fs.writeFileSync(path.join(shim, 'docker'), [
      '#!/bin/sh',
      `printf '%s\\n' "$*" >>${path.join(tmp, 'docker.argv')}`,
      'sub=$1; shift',
      'case $sub in',
      `build) exec podman build --network host --build-arg NODE_IMAGE=${BASE_IMAGE} "$@" ;;`,
      'run) exec podman run --network none "$@" ;;',
      '*) exec podman "$sub" "$@" ;;',
      'esac',
      '',
    ].join('\n'), { mode: 0o755 });
    // The build context: the checkout's sources plus what a careless user leaves there.
    context = path.join(tmp, 'checkout');
    fs.mkdirSync(context);
    for (const e of fs.readdirSync(REPO_ROOT)) {
      if (!['node_modules', 'dist', '.git', 'demo'].includes(e)) fs.cpSync(path.join(REPO_ROOT, e), path.join(context, e), { recursive: true });
    }
    fs.mkdirSync(path.join(context, 'certs', 'ca'), { recursive: true });
    for (const f of ['certs/ca/example.org-ca.key.pem', 'settings.mk', 'ca-passphrase.gpg', 'out/relayhost.example.org/secret.gpg']) {
      fs.mkdirSync(path.dirname(path.join(context, f)), { recursive: true });
      fs.writeFileSync(path.join(context, f), `${MARKER}\n`, { mode: 0o600 });
    }
  });

  after(function () {
    for (const c of agents) spawnSync('setpriv', [`--reuid=${c.uid}`, `--regid=${c.gid}`, '--clear-groups', 'gpgconf', '--kill', 'all'], { env: { ...process.env, GNUPGHOME: path.join(c.home, '.gnupg') }, stdio: 'ignore' });
    podman?.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('built by root (UID 0, the container\'s root)', function () {
    let root: Caller;
    before(function () {
      root = makeCaller('root-home', 0, 0);
      gpgAs(root, ['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-generate-key', `test <${TEST_RECIPIENT}>`, 'future-default', 'default', 'never']);
      startAgent(root);
    });

    it('builds with the README\'s docker build line; the runtime stage resolves nothing again and keeps no apt cache', function () {
      const t0 = Date.now();
      const r = sh(cmds.build, root, context);
      expect(r.code, r.stderr.slice(-3000)).to.equal(0);
      const size = Number(podman.run(['image', 'inspect', '--format', '{{.Size}}', IMAGE]).trim());
      console.log(`      image: ${(size / 1e6).toFixed(0)} MB, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const probe = podman.run(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c',
        'cd /usr/local/lib/node_modules/postfix-tls-relay && node -e "for (const d of Object.keys(require(\'./package.json\').dependencies)) console.log(d, require(\'./node_modules/\' + d + \'/package.json\').version)"; echo apt:; ls /var/cache/apt/archives/*.deb /var/lib/apt/lists 2>/dev/null | grep -v -e "^/var/lib/apt/lists:" -e "^partial$" -e "^lock$" -e "^auxfiles$" || true']);
      // Exactly package-lock.json's versions.
      const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
      const [deps, apt] = probe.split('apt:\n');
      for (const line of deps!.trim().split('\n')) {
        const [name, version] = line.split(' ');
        expect(version, name).to.equal(lock.packages[`node_modules/${name}`]!.version);
      }
      expect(apt!.trim()).to.equal('');
      expect(podman.run(['image', 'inspect', '--format', '{{.Config.User}}', IMAGE]).trim()).to.equal('0:0');
    });

    it('.dockerignore keeps the planted CA key, settings.mk and *.gpg out of the build context and the image', function () {
      // What the engine sees of the context: a probe image that copies all of it.
      const probeDir = path.join(tmp, 'probe');
      fs.mkdirSync(probeDir);
      fs.writeFileSync(path.join(probeDir, 'Containerfile'), `FROM ${BASE_IMAGE}\nCOPY . /ctx\n`);
      podman.run(['build', '--network', 'none', '-f', path.join(probeDir, 'Containerfile'), '-t', 'localhost/ctx-probe', context]);
      const seen = podman.run(['run', '--rm', '--network', 'none', 'localhost/ctx-probe', 'sh', '-c', 'cd /ctx && find . -type f | sort']).trim().split('\n');
      expect(seen).to.include('./package.json');
      expect(seen.filter((f) => f.startsWith('./lib/') && f.endsWith('.ts'))).to.not.be.empty;
      expect(seen.filter((f) => /(^|\/)settings\.mk$|\.gpg$|-ca\.key\.pem$|^\.\/(certs|out)\//.test(f))).to.deep.equal([]);
      podman.run(['rmi', 'localhost/ctx-probe']);
      // And nothing planted anywhere in the image.
      const found = podman.run(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c',
        `find / -xdev \\( -name settings.mk -o -name ca-passphrase.gpg -o -name '*-ca.key.pem' \\) -print; grep -rlF ${MARKER} /usr/local /home /project /opt /root /etc 2>/dev/null; true`]);
      expect(found.trim()).to.equal('');
    });

    it('--help, without a terminal and on one (the README\'s run line adds -t only then)', function () {
      const argvLog = path.join(tmp, 'docker.argv');
      for (const tty of [false, true]) {
        fs.rmSync(argvLog, { force: true });
        const r = run(root, '--help', { tty });
        expect(r.code, `${tty ? 'tty' : 'no tty'}: ${r.stderr}${r.stdout}`).to.equal(0);
        expect(r.stdout, tty ? 'tty' : 'no tty').to.match(/(^|\^@)postfix-tls-relay \[command\] \[options\]/m);
        const words = fs.readFileSync(argvLog, 'utf8').trim().split(' ');
        expect(words.slice(0, 3)).to.deep.equal(['run', '--rm', '-i']);
        expect(words.includes('-t'), tty ? 'tty' : 'no tty').to.equal(tty);
      }
    });

    it('init + build with the mounted GnuPG home (a passphrase-less key, the host\'s agent), then status --json', function () {
      const init = run(root, `init --domain example.org --relay relayhost --port 2500 --client mailhost --gpg-recipient ${TEST_RECIPIENT} --yes`);
      expect(init.code, init.stderr).to.equal(0);
      expect(fs.existsSync(path.join(root.project, 'settings.mk'))).to.equal(true);
      expect(fs.existsSync(path.join(root.project, 'ca-passphrase.gpg'))).to.equal(true);
      const build = run(root, 'build');
      expect(build.code, build.stderr).to.equal(0);
      const status = run(root, 'status --json');
      expect(status.code, status.stderr).to.equal(0);
      const st = JSON.parse(status.stdout) as { hosts: { fqdn: string }[] };
      expect(st.hosts.map((h) => h.fqdn).sort()).to.deep.equal(['mailhost.example.org', 'relayhost.example.org']);
      for (const f of filesUnder(root.project)) {
        const s = fs.lstatSync(f);
        expect(s.uid, f).to.equal(0);
        if (f.endsWith('.key.pem')) expect(s.mode & 0o777, f).to.equal(0o600);
      }
    });

    it('without the agent line and a key that needs its passphrase: the error names the missing pinentry/agent', function () {
      const locked = makeCaller('locked-home', 0, 0);
      gpgAs(locked, ['--pinentry-mode', 'loopback', '--passphrase', 'key passphrase 0815', '--quick-generate-key', `test <${TEST_RECIPIENT}>`, 'future-default', 'default', 'never']);
      gpgAs(locked, ['--trust-model', 'always', '--encrypt', '--recipient', TEST_RECIPIENT, '--output', path.join(locked.project, 'ca-passphrase.gpg')], 'correct horse battery staple 4711\n');
      spawnSync('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: path.join(locked.home, '.gnupg') } });
      fs.writeFileSync(path.join(locked.project, 'settings.mk'), 'domain := example.org\nsmtp_client_hostname := mailhost\nsmtpd_server_hostname := relayhost\ncerts_passphrase_file := ca-passphrase.gpg\n');
      const r = run(locked, 'build', { withoutAgentLine: true });
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.match(/gpg cannot decrypt .*ca-passphrase\.gpg: gpg: public key decryption failed: Inappropriate ioctl for device; gpg-agent found no way to ask for your key's passphrase/);
      expect(fs.existsSync(path.join(locked.project, 'certs', 'ca'))).to.equal(false);
    });
  });

  describe(`built by a user with uid ${USER_ID}, gid ${GROUP_ID}`, function () {
    let user: Caller;
    before(function () {
      user = makeCaller('user-home', USER_ID, GROUP_ID);
      startAgent(user);
    });

    it('builds with the same line (the other uid is one more layer)', function () {
      const r = sh(cmds.build, user, context);
      expect(r.code, r.stderr.slice(-3000)).to.equal(0);
      expect(podman.run(['image', 'inspect', '--format', '{{.Config.User}}', IMAGE]).trim()).to.equal(`${USER_ID}:${GROUP_ID}`);
    });

    it('demo into the mounted project: every file the user\'s, keys 0600; a second run has nothing to do', function () {
      const first = run(user, 'demo');
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stderr).to.match(/the example project is demo\/\. Run it again: nothing to do\./);
      const files = filesUnder(path.join(user.project, 'demo'));
      expect(files.filter((f) => f.endsWith('.key.pem')).length).to.be.at.least(4);
      for (const f of files) {
        const s = fs.lstatSync(f);
        expect([s.uid, s.gid], f).to.deep.equal([USER_ID, GROUP_ID]);
        if (f.endsWith('.key.pem')) expect(s.mode & 0o777, f).to.equal(0o600);
      }
      const again = run(user, 'demo');
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stderr).to.match(/^nothing to do: \d+ step\(s\) up to date/m);
    });
  });
});
