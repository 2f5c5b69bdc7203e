// A lab host's private file system, as on a freshly installed Debian machine: a copy of the whole /etc
// (tools replace files by rename, which a bind-mounted single file would refuse) reset to what the
// packages ship, /var as an overlay (dpkg-statoverride and debconf write there) with fresh Postfix,
// mail and log directories, its own /root, /home, /tmp and a tmpfs /run. /usr and /dev stay shared.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../project.js';
import type { Keeper } from './keeper.js';

/** Files a fresh install does not have yet: Postfix's debconf writes them, ssh-keygen -A, make-ssl-cert. */
const NOT_YET = [
  'aliases', 'aliases.db', 'mailname', 'ssl/certs/ssl-cert-snakeoil.pem', 'ssl/private/ssl-cert-snakeoil.key',
];

/** Postfix's own files under /etc/postfix (dpkg -L), kept; main.cf, master.cf and the rest go. */
function postfixPackageFiles(): Set<string> {
  const out = execFileSync('dpkg', ['-L', 'postfix'], { encoding: 'utf8' });
  return new Set(out.split('\n').filter((l) => l.startsWith('/etc/postfix/')).map((l) => l.slice('/etc/postfix/'.length).split('/')[0]!));
}

export interface HostFsOptions {
  fqdn: string;
  /** Lines of /etc/hosts after the loopback ones. */
  hosts?: string[];
  nameserver?: string;
}

/**
 * A copy of /etc (this machine's or a release root's) reset to a fresh install: Postfix's own files only
 * (`keep`: its package list), nothing debconf, ssh-keygen -A or make-ssl-cert write later, the host's names.
 */
export function resetEtc(etc: string, keep: ReadonlySet<string>, o: HostFsOptions): void {
  for (const f of fs.readdirSync(path.join(etc, 'postfix'))) if (!keep.has(f)) fs.rmSync(path.join(etc, 'postfix', f), { recursive: true, force: true });
  for (const f of NOT_YET) fs.rmSync(path.join(etc, f), { force: true });
  for (const f of fs.readdirSync(path.join(etc, 'ssh'))) if (f.startsWith('ssh_host_')) fs.rmSync(path.join(etc, 'ssh', f));
  for (const d of ['ssh/sshd_config.d', 'sudoers.d']) {
    fs.rmSync(path.join(etc, d), { recursive: true, force: true });
    fs.mkdirSync(path.join(etc, d), { mode: d === 'sudoers.d' ? 0o750 : 0o755 });
  }
  const short = o.fqdn.split('.')[0]!;
  const write = (rel: string, text: string) => {
    fs.rmSync(path.join(etc, rel), { force: true });
    fs.writeFileSync(path.join(etc, rel), text);
  };
  write('hostname', `${short}\n`);
  write('hosts', ['127.0.0.1\tlocalhost', `127.0.1.1\t${o.fqdn} ${short}`, '::1\tlocalhost ip6-localhost ip6-loopback', ...(o.hosts ?? []), ''].join('\n'));
  write('resolv.conf', o.nameserver ? `nameserver ${o.nameserver}\noptions timeout:2 attempts:2\n` : '');
}

/** Prepares `dir` (outside the host) and mounts it over the host's /etc, /var, /root, /home, /tmp, /run. */
export async function setupHostFs(keeper: Keeper, dir: string, o: HostFsOptions): Promise<void> {
  const etc = path.join(dir, 'etc');
  execFileSync('cp', ['-a', '/etc', etc]);
  resetEtc(etc, postfixPackageFiles(), o);
  const short = o.fqdn.split('.')[0]!;

  for (const d of ['var.up', 'var.work', 'spool-postfix', 'lib-postfix', 'mail', 'log', 'root', 'home', 'tmp', 'bin', 'layers/up', 'layers/work']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'root'), 0o700);
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  // Owned as the package made them: Postfix 3.10 (Debian 13) refuses to start with a /var/lib/postfix
  // that is not the postfix user's, where 3.7 only warned.
  for (const [d, real] of [['spool-postfix', '/var/spool/postfix'], ['lib-postfix', '/var/lib/postfix']] as const) {
    const st = fs.statSync(real);
    fs.chownSync(path.join(dir, d), st.uid, st.gid);
    fs.chmodSync(path.join(dir, d), st.mode & 0o7777);
  }
  for (const b of ['postdrop', 'postqueue']) fs.copyFileSync(`/usr/sbin/${b}`, path.join(dir, 'bin', b));

  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const D = q(dir);
  // The checkout (the CLI the workstation runs) may itself live under a tree the host gets its own
  // of (a clone in /root or /tmp): it is stashed first and put back at its path last.
  const R = q(REPO_ROOT);
  const hidden = /^\/(root|home|tmp|var|etc|run)(\/|$)/.test(REPO_ROOT);
  await keeper.sh([
    'set -eu',
    `D=${D}`,
    ...(hidden ? ['mkdir -p "$D/repo"', `mount --bind ${R} "$D/repo"`] : []),
    'mount --bind "$D/etc" /etc',
    'mount -t overlay overlay -o "lowerdir=/var,upperdir=$D/var.up,workdir=$D/var.work" /var',
    'mount --bind "$D/spool-postfix" /var/spool/postfix',
    'mount --bind "$D/lib-postfix" /var/lib/postfix',
    'chown root:mail "$D/mail" && chmod 2775 "$D/mail" && mount --bind "$D/mail" /var/mail',
    'mount --bind "$D/log" /var/log',
    'mount --bind "$D/bin/postdrop" /usr/sbin/postdrop',
    'mount --bind "$D/bin/postqueue" /usr/sbin/postqueue',
    'mount --bind "$D/root" /root',
    'mount --bind "$D/home" /home',
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'mkdir -p /run/lock && chmod 1777 /run/lock',
    // Where hideProgram's overlay layers are reachable once /tmp is the host's own.
    'mkdir /run/lab-layers && mount --bind "$D/layers" /run/lab-layers',
    ...(hidden ? ['mkdir /run/lab-repo && mount --bind "$D/repo" /run/lab-repo'] : []),
    'mount -t sysfs sysfs /sys',
    `hostname ${q(short)}`,
    // Last: the sources above live under the machine's /tmp.
    'mount --bind "$D/tmp" /tmp',
    ...(hidden ? [`mkdir -p ${R} && mount --bind /run/lab-repo ${R}`] : []),
  ].join('\n'));
}

/**
 * Models a host without a package (rsync is Priority optional, not on a minimal Debian): an overlay
 * over the host's /usr/bin whose upper layer holds a whiteout (character device 0/0) for `program`.
 * The machine's /usr/bin is never touched. unhidePrograms() removes the overlay again.
 */
export async function hideProgram(keeper: Keeper, dir: string, program: string): Promise<void> {
  await unhidePrograms(keeper, dir);
  execFileSync('mknod', [path.join(dir, 'layers', 'up', program), 'c', '0', '0']);
  await keeper.sh("mount -t overlay overlay -o 'lowerdir=/usr/bin,upperdir=/run/lab-layers/up,workdir=/run/lab-layers/work' /usr/bin");
}

export async function unhidePrograms(keeper: Keeper, dir: string): Promise<void> {
  await keeper.sh('if mountpoint -q /usr/bin; then umount -l /usr/bin; fi');
  for (const f of fs.readdirSync(path.join(dir, 'layers', 'up'))) fs.rmSync(path.join(dir, 'layers', 'up', f), { recursive: true, force: true });
}
