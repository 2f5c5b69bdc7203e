// Shipping: the npm tarball (built from exactly the files the Dockerfile's build stage copies) runs
// with `npx ./postfix-tls-relay-<version>.tgz` in an empty directory; the Dockerfile, .dockerignore and
// the system package script agree with each other. No Docker engine is needed.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOSTS_LAB_PROGRAMS } from '../support/prereq.js';
import { REPO_ROOT } from '../support/project.js';

const read = (f: string) => fs.readFileSync(path.join(REPO_ROOT, f), 'utf8');
const version = (JSON.parse(read('package.json')) as { version: string }).version;
const TARBALL = `postfix-tls-relay-${version}.tgz`;

interface Stage {
  from: string;
  lines: string[];
}

/** The Dockerfile's instructions per stage, continuation lines joined. */
function stages(): Stage[] {
  const out: Stage[] = [];
  for (const line of read('Dockerfile').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    if (/^FROM /i.test(line)) out.push({ from: line, lines: [] });
    else out[out.length - 1]?.lines.push(line);
  }
  return out;
}

/** COPY sources and destination, without --from copies (those come from another stage). */
function copies(stage: Stage): { sources: string[]; dest: string }[] {
  return stage.lines
    .filter((l) => /^COPY /i.test(l) && !/--from=/.test(l))
    .map((l) => {
      const words = l.split(/\s+/).slice(1).filter((w) => !w.startsWith('--'));
      return { sources: words.slice(0, -1), dest: words[words.length - 1]! };
    });
}

describe('packaging: npm pack, npx, Dockerfile', function () {
  let tmp: string;
  let tarball: string;
  let env: NodeJS.ProcessEnv;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-pack-'));
    env = { ...process.env, NO_COLOR: '1', npm_config_cache: path.join(tmp, 'npm-cache'), npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
    delete env.GNUPGHOME;
    // The Dockerfile's build stage, outside Docker: its COPYs into a fresh context; the checkout's
    // node_modules stand in for `npm ci`; `npm pack` runs `prepare` (tsc) there.
    const ctx = path.join(tmp, 'build');
    fs.mkdirSync(ctx);
    for (const { sources, dest } of copies(stages()[0]!)) {
      for (const src of sources) {
        const target = dest.endsWith('/') && sources.length > 1 ? path.join(ctx, dest, path.basename(src)) : path.join(ctx, dest === './' ? path.basename(src) : dest);
        fs.cpSync(path.join(REPO_ROOT, src), target, { recursive: true });
      }
    }
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(ctx, 'node_modules'));
    fs.mkdirSync(path.join(tmp, 'pkg'));
    execFileSync('npm', ['pack', '--pack-destination', path.join(tmp, 'pkg')], { cwd: ctx, env, stdio: 'pipe' });
    tarball = path.join(tmp, 'pkg', TARBALL);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('the tarball holds the compiled tool, templates, openssl configs, the example and the docs; no sources or tests', function () {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    const expected = ['bin/postfix-tls-relay.js', 'dist/lib/cli/main.js', 'dist/lib/commands/init.js', 'dist/lib/commands/demo.js', 'examples/demo.settings.mk', 'README.md', 'SECURITY.md', 'package.json'];
    for (const dir of ['templates', 'openssl-conf']) {
      for (const e of fs.readdirSync(path.join(REPO_ROOT, dir), { recursive: true, withFileTypes: true })) {
        if (e.isFile()) expected.push(path.relative(REPO_ROOT, path.join(e.parentPath, e.name)));
      }
    }
    expect(files).to.include.members(expected);
    expect(files.filter((f) => f.endsWith('.ts') || f.startsWith('dist/test/') || f.startsWith('test/') || /(^|\/)(settings\.mk|certs|\.gnupg)/.test(f))).to.deep.equal([]);
  });

  it('runs with npx ./postfix-tls-relay-<version>.tgz --help in an empty directory', function () {
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    fs.copyFileSync(tarball, path.join(empty, TARBALL));
    const r = spawnSync('npx', ['--yes', `./${TARBALL}`, '--help'], { cwd: empty, env, encoding: 'utf8', timeout: 150_000 });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^postfix-tls-relay \[command\] \[options\]/);
    expect(r.stdout).to.include('postfix-tls-relay init');
    expect(fs.readdirSync(empty)).to.deep.equal([TARBALL]); // npx installs elsewhere (its cache)
  });

  it('the packed tool builds the demo: its templates and openssl configs are all there', function () {
    const dir = fs.mkdtempSync(path.join(tmp, 'demo-'));
    fs.copyFileSync(tarball, path.join(dir, TARBALL));
    const r = spawnSync('npx', ['--yes', `./${TARBALL}`, 'demo'], { cwd: dir, env, encoding: 'utf8', timeout: 150_000 });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr.match(/^ {2}OK {4}openssl verify /gm)).to.have.length(3);
  });

  it('Dockerfile: runtime packages from the shared script, the packed tool with its locked dependencies, your uid, the project as WORKDIR', function () {
    const all = stages();
    expect(all).to.have.length(2);
    const [build, runtime] = [all[0]!, all[1]!];
    expect(build.lines).to.include('RUN mkdir /pkg && npm pack --pack-destination /pkg');
    // The packed tool installed with package-lock.json's versions, without devDependencies.
    expect(build.lines.join('\n')).to.match(/tar -xzf \/pkg\/postfix-tls-relay-\*\.tgz -C \/opt\/postfix-tls-relay .*cp package-lock\.json \/opt\/postfix-tls-relay\/ .*npm ci --omit=dev --ignore-scripts/);
    expect(runtime.lines.join('\n')).to.match(/^RUN \/usr\/local\/sbin\/install-system-packages\.sh runtime +&& apt-get clean && rm -rf \/var\/lib\/apt\/lists\/\*/m);
    expect(copies(runtime)).to.deep.include({ sources: ['scripts/install-system-packages.sh'], dest: '/usr/local/sbin/install-system-packages.sh' });
    expect(runtime.lines).to.include('COPY --from=build /opt/postfix-tls-relay/ /usr/local/lib/node_modules/postfix-tls-relay/');
    expect(runtime.lines.join('\n')).to.not.match(/npm (install|i|ci)\b/); // no second resolution of the dependencies
    expect(runtime.lines.filter((l) => /^USER /.test(l))).to.deep.equal(['USER ${UID}:${GID}']);
    expect(runtime.lines.join('\n')).to.match(/useradd --uid "\$UID" --gid "\$GID" --create-home .* relay/);
    expect(runtime.lines).to.include('WORKDIR /project');
    expect(runtime.lines).to.include('ENTRYPOINT ["postfix-tls-relay"]');
  });

  it('.dockerignore lets in exactly what the Dockerfile copies and keeps project data out', function () {
    const rules = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(rules[0]).to.equal('*');
    const allowed = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/$/, ''));
    const sources = stages().flatMap((s) => copies(s).flatMap((c) => c.sources)).map((s) => s.replace(/\/$/, ''));
    for (const s of sources) expect(allowed, s).to.include(s);
    for (const a of allowed) {
      expect(sources, `${a} is let in but never copied`).to.include(a);
      expect(fs.existsSync(path.join(REPO_ROOT, a)), a).to.equal(true);
    }
    for (const secret of ['settings.mk', 'certs', 'out', 'demo', 'ca-passphrase.gpg', '.gnupg']) expect(allowed).to.not.include(secret);
  });

  it('scripts/install-system-packages.sh names every package the multi-host lab runs (or it is Essential, required, or a dependency of one it names)', () => {
    const text = read('scripts/install-system-packages.sh');
    const named = new Set([...text.matchAll(/^(?:RUNTIME|TEST)_PKGS="([^"]+)"/gm)].flatMap((m) => m[1]!.split(/\s+/)).filter((w) => w && !w.startsWith('$')));
    expect([...named]).to.include.members(['dnsmasq', 'nftables', 'sudo', 'sslscan', 'iproute2', 'libnet-ssleay-perl', 'libio-socket-ssl-perl']);
    const field = (pkg: string, f: string) => spawnSync('dpkg-query', ['-W', `-f=\${${f}}`, pkg], { encoding: 'utf8' }).stdout.trim();
    const dependsOfNamed = new Set([...named].flatMap((p) => field(p, 'Depends').split(/[,|]/).map((d) => d.trim().split(/[\s:(]/)[0]!)));
    const unnamed = [...new Set(HOSTS_LAB_PROGRAMS.map(([, pkg]) => pkg))]
      .filter((pkg) => !named.has(pkg) && field(pkg, 'Essential') !== 'yes' && field(pkg, 'Priority') !== 'required' && !dependsOfNamed.has(pkg));
    expect(unnamed).to.deep.equal([]);
  });

  it('scripts/install-system-packages.sh: valid sh; its runtime list covers every program the tool runs, all installed here', function () {
    const script = path.join(REPO_ROOT, 'scripts', 'install-system-packages.sh');
    expect(spawnSync('sh', ['-n', script]).status).to.equal(0);
    const runtime = /^RUNTIME_PKGS="([^"]+)"/m.exec(read('scripts/install-system-packages.sh'))![1]!.split(/\s+/);
    expect(runtime).to.include.members(['openssl', 'gnupg', 'rsync', 'openssh-client']);
    for (const pkg of runtime) {
      const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout;
      expect(status, pkg).to.match(/ ok installed$/);
    }
    for (const program of ['openssl', 'gpg', 'gpgconf', 'rsync', 'ssh']) {
      expect(spawnSync('sh', ['-c', `command -v ${program}`]).status, program).to.equal(0);
    }
    if (process.getuid?.() === 0) {
      // Everything is there, so the script the image runs finds nothing to do (and needs no network).
      const r = spawnSync('sh', [script, 'runtime'], { encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^install-system-packages: already installed: openssl gnupg rsync openssh-client/);
    }
  });
});
