// A lab host of another Debian release: its own root file system, a cached `debootstrap --variant=minbase`
// root of that release with its postfix, openssh-server, rsync, sudo … (scripts/release-root.sh), entered
// by pivot_root in the host's mount namespace (a chroot would not survive nsenter -m, which resets a
// process's root to its mount namespace's root). The root is the lower layer of an overlay, so the
// cache is never written; /etc, /var/log, /var/mail, /root, /home and /tmp are the host directory's, as
// on the lab's other hosts (host-fs.ts), so the tests read them from outside the same way. Everything
// is mounted in the host's own mount namespace: it goes with the keeper.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../project.js';
import { resetEtc } from './host-fs.js';
import type { Keeper } from './keeper.js';

export type Release = 'bullseye' | 'trixie';
export const RELEASES: Record<Release, string> = { bullseye: 'Debian 11', trixie: 'Debian 13' };

const roots = new Map<Release, Promise<string>>();

/**
 * The cached root of `release` with what the lab runs on a host (scripts/release-root.sh --lab-host:
 * postfix, openssh-server, rsync, sudo, ca-certificates, ssl-cert, openssl). Built on first use (about a minute), a new one each ISO week.
 * A root that cannot be made is an error, never a skip: the suite that asked for it fails.
 */
export function releaseRoot(release: Release): Promise<string> {
  let p = roots.get(release);
  if (!p) {
    p = promisify(execFile)('bash', [path.join(REPO_ROOT, 'scripts', 'release-root.sh'), '--lab-host', release], { maxBuffer: 1 << 20, timeout: 900_000 })
      .then((r) => r.stdout.trim().split('\n').pop()!)
      .catch((e: { stderr?: string; message: string }) => {
        roots.delete(release);
        throw new Error(`the ${RELEASES[release]} (${release}) root for the lab cannot be made: ${(e.stderr ?? '').trim() || e.message}`);
      });
    roots.set(release, p);
  }
  return p;
}

export interface ReleaseHostOptions {
  fqdn: string;
  nameserver?: string;
}

/**
 * Prepares `dir` (outside the host) from the release root and pivots the host into it. After this,
 * every keeper.run sees the release's /usr, /etc, Postfix, OpenSSH and OpenSSL.
 */
export async function enterReleaseRoot(keeper: Keeper, dir: string, release: Release, o: ReleaseHostOptions): Promise<void> {
  const root = await releaseRoot(release);
  const etc = path.join(dir, 'etc');
  execFileSync('cp', ['-a', path.join(root, 'etc'), etc]);
  // As a fresh install: Postfix's own files only (its package list), no host keys, nothing debconf writes later.
  const listed = fs.readFileSync(path.join(root, 'var/lib/dpkg/info/postfix.list'), 'utf8').split('\n');
  const keep = new Set(listed.filter((l) => l.startsWith('/etc/postfix/')).map((l) => l.slice('/etc/postfix/'.length).split('/')[0]!));
  resetEtc(etc, keep, o);
  const short = o.fqdn.split('.')[0]!;
  // The cached root's policy-rc.d denied every start while it was built; a host starts its daemons.
  for (const d of ['up', 'work', 'newroot', 'mail', 'log', 'root', 'home', 'tmp']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(path.join(dir, 'root'), 0o700);
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);

  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  await keeper.sh([
    'set -eu',
    `D=${q(dir)} N=${q(path.join(dir, 'newroot'))}`,
    `mount -t overlay overlay -o "lowerdir=${root.replace(/[,:\\]/g, '\\$&')},upperdir=$D/up,workdir=$D/work" "$N"`,
    'rm -f "$N/usr/sbin/policy-rc.d"',
    'mount --bind "$D/etc" "$N/etc"',
    'chown root:mail "$D/mail" && chmod 2775 "$D/mail" && mount --bind "$D/mail" "$N/var/mail"',
    'mount --bind "$D/log" "$N/var/log"',
    'mount --bind "$D/root" "$N/root"',
    'mount --bind "$D/home" "$N/home"',
    'mount --bind "$D/tmp" "$N/tmp"',
    'mount -t tmpfs -o mode=0755 tmpfs "$N/run" && mkdir -p "$N/run/lock" && chmod 1777 "$N/run/lock"',
    'mount -t proc proc "$N/proc"',
    'mount -t sysfs sysfs "$N/sys"',
    'mount --rbind /dev "$N/dev"',
    `hostname ${q(short)}`,
    // The keeper (PID 1 here) and this shell move with it; the machine's tree is then out of reach.
    'cd "$N" && mkdir -p .old-root && pivot_root . .old-root && cd / && umount -l /.old-root && rmdir /.old-root',
  ].join('\n'));
  const version = (await keeper.run(['cat', '/etc/debian_version'])).stdout.trim();
  const major = { bullseye: '11', trixie: '13' }[release];
  if (!version.startsWith(`${major}.`)) throw new Error(`${keeper.name}: expected ${RELEASES[release]}, /etc/debian_version says ${version}`);
}

/** argv in the host's network namespace only, with this machine's programs (nft, ip: not in a minimal root). */
export const inHostNet = (k: Keeper, argv: string[]) => promisify(execFile)('nsenter', ['-t', String(k.pid), '-n', '--', ...argv]);
