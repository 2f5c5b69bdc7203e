// What the multi-host lab needs on the machine; requirePrerequisites (../lab.js) skips without it, or
// fails when CI is set.
import { findCommand } from '../lab.js';

const PROGRAMS: [string, string][] = [
  ['setpriv', 'util-linux'], ['unshare', 'util-linux'], ['nsenter', 'util-linux'], ['perl', 'perl-base'], ['ip', 'iproute2'],
  ['dnsmasq', 'dnsmasq'], ['nft', 'nftables'], ['swaks', 'swaks'], ['sslscan', 'sslscan'], ['postfix', 'postfix'],
  ['dpkg-reconfigure', 'debconf'], ['make-ssl-cert', 'ssl-cert'], ['sshd', 'openssh-server'], ['ssh', 'openssh-client'], ['sudo', 'sudo'], ['visudo', 'sudo'],
  ['rsync', 'rsync'], ['gpg', 'gnupg'], ['openssl', 'openssl'], ['mknod', 'coreutils'],
];

export function hostsLabPrerequisites(): { ok: boolean; missing: string[] } {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (uid 0: namespaces, mounts)');
  for (const [p, pkg] of PROGRAMS) if (!findCommand(p)) missing.push(`${p} (${pkg})`);
  return { ok: missing.length === 0, missing };
}
