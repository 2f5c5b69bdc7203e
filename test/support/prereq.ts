// Every prerequisite check of the tests, and the one way a suite acts on them (skip, or fail under CI):
// the Postfix lab, the private sshd, mounting a tmpfs (full disk, read-only directory), strace, the
// multi-host lab of namespaces.
import { execFileSync, spawnSync } from 'node:child_process';
import fs, { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SBIN_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
export const SSHD = '/usr/sbin/sshd';

/** Absolute path of a command found in PATH or the sbin dirs (which may be missing from a user's PATH). */
export function findCommand(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN_DIRS];
  for (const dir of dirs) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch { /* next */ }
  }
  return undefined;
}

export interface Check {
  ok: boolean;
  missing: string[];
}

let mountCheck: Check | undefined;
export function canMount(): Check {
  if (mountCheck) return mountCheck;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-mount-probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', dir], { stdio: 'ignore' });
  if (r.status === 0) spawnSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  mountCheck = r.status === 0 ? { ok: true, missing: [] } : { ok: false, missing: ['permission to mount a tmpfs (root with CAP_SYS_ADMIN)'] };
  return mountCheck;
}

export function canStrace(): Check {
  if (!findCommand('strace')) return { ok: false, missing: ['strace'] };
  const r = spawnSync('strace', ['-qq', '-o', '/dev/null', 'true'], { stdio: 'ignore' });
  return r.status === 0 ? { ok: true, missing: [] } : { ok: false, missing: ['permission to ptrace (strace)'] };
}

export function labPrerequisites(): Check {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (uid 0)');
  for (const c of ['postfix', 'postconf', 'postqueue', 'smtp-sink', 'swaks', 'sendmail']) {
    if (!findCommand(c)) missing.push(c);
  }
  if (!fs.existsSync('/etc/postfix/master.cf')) missing.push('/etc/postfix/master.cf');
  try { execFileSync('id', ['postfix'], { stdio: 'ignore' }); } catch { missing.push('user postfix'); }
  return { ok: missing.length === 0, missing };
}

/** What the multi-host lab (test/support/hosts) runs on the machine, with the Debian package of each. */
export const HOSTS_LAB_PROGRAMS: readonly (readonly [string, string])[] = [
  ['setpriv', 'util-linux'], ['unshare', 'util-linux'], ['nsenter', 'util-linux'], ['mount', 'mount'], ['perl', 'perl-base'], ['ip', 'iproute2'],
  ['dnsmasq', 'dnsmasq'], ['nft', 'nftables'], ['swaks', 'swaks'], ['sslscan', 'sslscan'], ['postfix', 'postfix'],
  ['dpkg-reconfigure', 'debconf'], ['make-ssl-cert', 'ssl-cert'], ['sshd', 'openssh-server'], ['ssh', 'openssh-client'], ['sudo', 'sudo'], ['visudo', 'sudo'],
  ['rsync', 'rsync'], ['gpg', 'gnupg'], ['openssl', 'openssl'], ['mknod', 'coreutils'],
  // Hosts of other Debian releases (release.ts): their roots bootstrapped, then entered by pivot_root.
  ['debootstrap', 'debootstrap'], ['pivot_root', 'util-linux'],
];

export function hostsLabPrerequisites(): Check {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (uid 0: namespaces, mounts)');
  for (const [p, pkg] of HOSTS_LAB_PROGRAMS) if (!findCommand(p)) missing.push(`${p} (${pkg})`);
  // swaks --tls needs its STARTTLS modules, which are only Recommends of swaks.
  const support = findCommand('swaks') ? spawnSync('swaks', ['--support'], { encoding: 'utf8' }) : undefined;
  if (support && !/^=== TLS supported/m.test(`${support.stdout}${support.stderr}`)) {
    missing.push('swaks STARTTLS (libnet-ssleay-perl, libio-socket-ssl-perl)');
  }
  return { ok: missing.length === 0, missing };
}

/**
 * Call in a `before` hook: if a check failed, skip the suite with the reason printed — or, when CI is
 * set, throw so the suite fails (a CI run must never pass by silently skipping the real tests).
 */
export function sshdPrerequisites(): Check {
  const missing: string[] = [];
  if (!fs.existsSync(SSHD)) missing.push(`${SSHD} (openssh-server)`);
  for (const c of ['ssh', 'ssh-keygen', 'rsync']) if (!findCommand(c)) missing.push(c);
  return { ok: missing.length === 0, missing };
}

export function requirePrerequisites(ctx: Mocha.Context, ...checks: Check[]): void {
  const missing = [...new Set(checks.flatMap((c) => c.missing))];
  if (missing.length === 0) return;
  const reason = `missing prerequisites: ${missing.join(', ')} (run as root: scripts/install-system-packages.sh test)`;
  const ci = process.env.CI;
  if (ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false') {
    throw new Error(`${reason} — CI is set, so this fails instead of skipping`);
  }
  console.log(`      SKIPPED: ${reason}`);
  ctx.skip();
}
