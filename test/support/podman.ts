// A private rootful podman for the image test: storage, run root, temp files and network config in the
// test's own directory (removed by dispose()), runc as the runtime, ulimits the machine can grant, and a
// stand-in for node:20-bookworm-slim (no registry here): a minbase Debian bookworm with this machine's
// Node.js and npm laid out as the official image has them. Facts: the project's container notes.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findCommand } from './lab.js';

export const BASE_IMAGE = 'localhost/node:20-bookworm-slim';
/** A `debootstrap --variant=minbase bookworm` tree to copy instead of bootstrapping one (CI caches it). */
export const BOOKWORM_ROOT_ENV = 'POSTFIX_TLS_RELAY_BOOKWORM_ROOT';
/** Where the stand-in keeps this machine's CA bundle, for npm (NODE_EXTRA_CA_CERTS). */
const CA_IN_IMAGE = '/usr/local/share/ca-certificates-host/ca-certificates.crt';

export interface Podman {
  dir: string;
  /** The environment that points podman at the private configuration. */
  env: NodeJS.ProcessEnv;
  /** Runs podman; throws with its output on a non-zero exit. */
  run(args: string[], opts?: { input?: string | Buffer }): string;
  dispose(): void;
}

export function podmanPrerequisites(): { ok: boolean; missing: string[] } {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (uid 0) for rootful podman');
  for (const c of ['podman', 'runc', 'debootstrap', 'tar', 'setpriv']) if (!findCommand(c)) missing.push(c);
  return { ok: missing.length === 0, missing };
}

const hardLimit = (flag: string) => execFileSync('bash', ['-c', `ulimit -H${flag}`], { encoding: 'utf8' }).trim();

export function createPodman(dir: string): Podman {
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const nofile = hardLimit('n');
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
  const nprocHard = hardLimit('u');
  const nproc = nprocHard === 'unlimited' ? pidMax : Math.min(Number(nprocHard), pidMax);
  const conf = path.join(dir, 'containers.conf');
  fs.writeFileSync(conf, [
    '[containers]',
    // runc cannot raise the limits here: pin them to what the machine has.
    `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
    '[engine]',
    'runtime = "runc"', // crun refuses this machine's hybrid cgroup layout
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = "${dir}/events.log"`,
    `tmp_dir = "${dir}/libpod-tmp"`,
    '[network]',
    `network_config_dir = "${dir}/networks"`,
    '',
  ].join('\n'));
  const storage = path.join(dir, 'storage.conf');
  fs.writeFileSync(storage, `[storage]\ndriver = "overlay"\ngraphroot = "${dir}/storage"\nrunroot = "${dir}/run"\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage, TMPDIR: path.join(dir, 'tmp') };
  const run = (args: string[], opts: { input?: string | Buffer } = {}) => {
    const r = spawnSync('podman', args, { env, input: opts.input, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
    if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  return {
    dir,
    env,
    run,
    dispose() {
      spawnSync('podman', ['rm', '--all', '--force'], { env, stdio: 'ignore' });
      spawnSync('podman', ['system', 'reset', '--force'], { env, stdio: 'ignore', timeout: 120_000 });
      // Overlay mounts podman may have left under our directory, innermost first.
      const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
        .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
        .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The Debian mirror this machine uses (deb822 sources or sources.list), for debootstrap. */
function debianMirror(): string {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    try {
      const text = fs.readFileSync(f, 'utf8');
      const m = /^URIs:\s*(\S+)/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text);
      if (m) return m[1]!;
    } catch { /* next */ }
  }
  return 'http://deb.debian.org/debian';
}

/** Builds the stand-in base image into the podman storage; returns how the rootfs was made. */
export function importStandInBase(podman: Podman): string {
  const rootfs = path.join(podman.dir, 'rootfs');
  const cached = process.env[BOOKWORM_ROOT_ENV];
  let how: string;
  if (cached && fs.existsSync(path.join(cached, 'usr', 'bin', 'apt-get'))) {
    execFileSync('cp', ['-a', cached, rootfs]);
    how = `copy of ${cached}`;
  } else {
    execFileSync('debootstrap', ['--variant=minbase', 'bookworm', rootfs, debianMirror()], { stdio: 'pipe', timeout: 600_000 });
    how = 'debootstrap --variant=minbase bookworm';
  }
  const r = (p: string) => path.join(rootfs, p);
  // Node.js and npm where the official image has them.
  fs.copyFileSync(process.execPath, r('usr/local/bin/node'));
  fs.chmodSync(r('usr/local/bin/node'), 0o755);
  const npmDir = path.resolve(path.dirname(fs.realpathSync(findCommand('npm')!)), '..');
  fs.mkdirSync(r('usr/local/lib/node_modules'), { recursive: true });
  execFileSync('cp', ['-a', npmDir, r('usr/local/lib/node_modules/npm')]);
  fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', r('usr/local/bin/npm'));
  fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', r('usr/local/bin/npx'));
  // The official image's user node (1000:1000), its apt and dpkg settings, no service starts.
  fs.appendFileSync(r('etc/passwd'), 'node:x:1000:1000::/home/node:/bin/bash\n');
  fs.appendFileSync(r('etc/group'), 'node:x:1000:\n');
  fs.appendFileSync(r('etc/shadow'), 'node:*:19000:0:99999:7:::\n');
  fs.mkdirSync(r('home/node'), { mode: 0o755 });
  fs.chownSync(r('home/node'), 1000, 1000);
  const clean = '"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"';
  fs.writeFileSync(r('etc/apt/apt.conf.d/docker-clean'),
    `DPkg::Post-Invoke { ${clean}; };\nAPT::Update::Post-Invoke { ${clean}; };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n`);
  fs.writeFileSync(r('etc/dpkg/dpkg.cfg.d/docker'), ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*']
    .map((p) => `path-exclude ${p}\n`).join('') + 'path-include /usr/share/doc/*/copyright\n');
  fs.writeFileSync(r('usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  // npm in the image must trust the certificate authorities this machine trusts.
  fs.mkdirSync(path.dirname(r(CA_IN_IMAGE.slice(1))), { recursive: true });
  fs.copyFileSync('/etc/ssl/certs/ca-certificates.crt', r(CA_IN_IMAGE.slice(1)));
  const imp = spawnSync('sh', ['-c', 'tar -C "$1" --numeric-owner -c . | podman import --change "$2" --change "$3" --change "$4" - "$5"', 'sh',
    rootfs, 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `ENV NODE_EXTRA_CA_CERTS=${CA_IN_IMAGE}`, 'CMD ["node"]', BASE_IMAGE],
  { env: podman.env, encoding: 'utf8', timeout: 300_000 });
  if (imp.status !== 0) throw new Error(`podman import of the stand-in rootfs failed: ${imp.stderr}`);
  fs.rmSync(rootfs, { recursive: true, force: true });
  return how;
}
