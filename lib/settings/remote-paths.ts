// The paths a bundle writes on a host, checked when the settings are read: apply.sh installs each file
// as root and owns each directory it makes, so no path may be another one of the bundle, a file
// Postfix owns, a system file, or a directory the system shares (ensure_dir would change its mode).
import path from 'node:path';
import { UsageError } from '../errors.js';
import { remoteFiles, TABLE_SUFFIX } from './remote-layout.js';
import type { Host, Settings } from './types.js';

/** Directories of the system (and their like): never a certs_remote_dir or a Postfix config dir. */
const SYSTEM_DIRS = new Set([
  '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt', '/opt', '/proc',
  '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var',
  '/etc/ssl', '/etc/ssl/certs', '/etc/ssl/private', '/etc/ssh', '/etc/pam.d', '/etc/sudoers.d', '/etc/security', '/etc/default',
  '/etc/systemd', '/etc/init.d', '/etc/cron.d', '/etc/cron.daily', '/etc/cron.hourly', '/etc/cron.weekly', '/etc/cron.monthly',
  '/etc/network', '/etc/apt', '/etc/alternatives', '/etc/logrotate.d', '/etc/profile.d', '/etc/rsyslog.d',
  '/usr/local', '/usr/local/etc', '/usr/local/bin', '/usr/local/sbin', '/usr/local/lib', '/usr/local/share',
]);

/** Trees that are the kernel's, the packages' or Postfix's own: nothing of a bundle goes there. */
const SHARED_TREES = ['/dev', '/proc', '/sys', '/run', '/boot', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/usr', '/var/spool/postfix', '/var/lib/postfix'];

/** Trees of system configuration where a file of ours would change how the host logs in, boots or runs jobs. */
const SYSTEM_FILE_TREES = [
  '/etc/ssh', '/etc/pam.d', '/etc/sudoers.d', '/etc/security', '/etc/systemd', '/etc/init.d', '/etc/profile.d', '/etc/default',
  '/etc/cron.d', '/etc/cron.daily', '/etc/cron.hourly', '/etc/cron.weekly', '/etc/cron.monthly', '/etc/apt', '/etc/network',
  '/etc/logrotate.d', '/etc/rsyslog.d', '/etc/ssl/certs', '/root/.ssh',
];

/** System files a typo could name (the tree rules above catch /usr, /var/spool …). */
const SYSTEM_FILES = new Set([
  '/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow', '/etc/sudoers', '/etc/hosts', '/etc/hostname', '/etc/fstab',
  '/etc/resolv.conf', '/etc/crontab', '/etc/aliases', '/etc/mailname', '/etc/profile', '/etc/environment', '/etc/ld.so.preload',
  '/etc/ld.so.conf', '/etc/nsswitch.conf', '/etc/login.defs', '/etc/securetty', '/etc/rc.local', '/etc/machine-id', '/etc/os-release',
]);

/** Files and directories in a Postfix config directory that Postfix (or its package) owns. */
const POSTFIX_OWNED = new Set([
  'main.cf', 'master.cf', 'dynamicmaps.cf', 'dynamicmaps.cf.d', 'postfix-files', 'postfix-files.d', 'makedefs.out', 'main.cf.proto',
  'master.cf.proto', 'main.cf.default', 'bounce.cf.default', 'postfix-script', 'post-install', 'LICENSE', 'TLS_LICENSE', 'sasl',
  'access', 'aliases', 'canonical', 'generic', 'header_checks', 'body_checks', 'relocated', 'transport', 'virtual', 'sasl_passwd',
]);

// Without making `${dir}/` each time: a fleet's settings check calls this tens of thousands of times.
const within = (p: string, dir: string) => dir === '/' || p === dir || (p.length > dir.length && p.charCodeAt(dir.length) === 47 && p.startsWith(dir));

/** Every tree no bundle file may be in. */
const FILE_TREES = [...SHARED_TREES, ...SYSTEM_FILE_TREES];

/** Why `dir` cannot be a directory the tool makes and owns on a host, or undefined. */
function sharedDirProblem(dir: string): string | undefined {
  if (SYSTEM_DIRS.has(dir)) return `is a system directory (apply.sh would make it 0755 and own it)`;
  const tree = SHARED_TREES.find((t) => within(dir, t));
  if (tree) return `is inside ${tree}, which belongs to the system`;
  if (/^\/(var|home)\/[^/]+$/.test(dir)) return `is a system directory (apply.sh would make it 0755 and own it)`;
  return undefined;
}

/** Why `file` cannot be a bundle file, or undefined. */
function systemFileProblem(file: string, postfixDir: string, postfixSetting: string): string | undefined {
  if (SYSTEM_FILES.has(file)) return 'is a system file';
  const tree = FILE_TREES.find((t) => within(file, t)) ?? /^\/home\/[^/]+\/\.ssh(\/|$)/.exec(file)?.[0];
  if (tree) return `is inside ${tree.replace(/\/$/, '')}, which belongs to the system`;
  // The host's Postfix config directory, and Debian's default instance (there whatever postconf -c says).
  for (const [dir, setting] of [[postfixDir, postfixSetting], ['/etc/postfix', 'the default Postfix instance']] as const) {
    if (!within(file, dir)) continue;
    const rel = path.posix.relative(dir, file);
    const first = rel.split('/')[0]!;
    const base = first.replace(/\.(db|lmdb|cdb)$/, '');
    if (rel === '') return `is the Postfix config directory itself (${setting})`;
    if (POSTFIX_OWNED.has(first) || POSTFIX_OWNED.has(base) || /\.cf$/.test(first)) return `is ${first}, which Postfix owns, in ${setting} (${dir})`;
  }
  return undefined;
}

interface Named {
  readonly path: string;
  /** The setting it comes from, as the error names it. */
  readonly setting: string;
}

/** Every remote file of a host's bundle (and the table postmap makes), with the setting that places it. */
function bundlePaths(s: Settings, host: Host): { files: Named[]; dirs: Named[] } {
  const r = remoteFiles(s, host);
  const files: Named[] = [
    { path: r.caCert, setting: 'certs_remote_dir' },
    { path: r.cert, setting: 'certs_remote_dir' },
    { path: r.key, setting: 'certs_remote_dir' },
    { path: r.applyScript, setting: 'certs_remote_dir' },
  ];
  if (host.role === 'server') {
    const table = s.server.relayClientcertsPath;
    files.push({ path: table, setting: 'smtpd_server_relay_clientcerts_in' });
    if (TABLE_SUFFIX[s.tableType]) files.push({ path: `${table}${TABLE_SUFFIX[s.tableType]}`, setting: 'smtpd_server_relay_clientcerts_in' });
  }
  const dirs = [s.certsRemoteDir, path.posix.dirname(r.caCert), path.posix.dirname(r.key)].map((d) => ({ path: d, setting: 'certs_remote_dir' }));
  return { files, dirs };
}

/**
 * Exit 2 naming the setting when a remote path is unsafe. `at(name)` is where the setting was set
 * ("settings.mk:12"), for the message.
 */
export function checkRemotePaths(s: Settings, at: (name: string) => string): void {
  const fail = (setting: string, value: string, why: string, fix: string) => {
    throw new UsageError(`${at(setting)}: ${setting} = "${value}" ${why}; ${fix}`);
  };
  const postfixSetting = (h: Host) => (h.role === 'server' ? 'smtpd_server_postfix_dir' : 'smtp_client_postfix_dir');
  for (const h of [s.server, s.clients[0]!]) {
    const why = sharedDirProblem(h.postfixDir);
    if (why) fail(postfixSetting(h), h.postfixDir, why, 'name the directory that holds main.cf (postconf -c), e.g. /etc/postfix');
  }
  const dedicated = 'name a directory of its own, e.g. /etc/postfix-tls-based-relaying';
  const why = sharedDirProblem(s.certsRemoteDir);
  if (why) fail('certs_remote_dir', s.certsRemoteDir, why, dedicated);
  for (const h of [s.server, s.clients[0]!]) {
    if (within(h.postfixDir, s.certsRemoteDir)) {
      fail('certs_remote_dir', s.certsRemoteDir, `holds the Postfix config directory ${h.postfixDir} (${postfixSetting(h)})`, dedicated);
    }
  }

  const allowlist = s.server.relayClientcertsPath;
  // The CA certificate and the apply script have one path for every client of a fleet: judged once.
  const judged = new Map<string, Map<string, string | undefined>>(); // by Postfix dir and role, then by path
  const judge = (file: string, host: Host) => {
    const kind = `${host.postfixDir}\0${host.role}`;
    let byPath = judged.get(kind);
    if (!byPath) judged.set(kind, (byPath = new Map()));
    let problem = byPath.get(file);
    if (problem === undefined && !byPath.has(file)) byPath.set(file, (problem = systemFileProblem(file, host.postfixDir, postfixSetting(host))));
    return problem;
  };
  for (const host of [s.server, ...s.clients]) {
    const { files, dirs } = bundlePaths(s, host);
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      const problem = judge(f.path, host);
      const fix = () => (f.setting === 'certs_remote_dir' ? dedicated : `name a file of its own, e.g. ${s.server.postfixDir}/relay_clientcerts`);
      if (problem) fail(f.setting, f.setting === 'certs_remote_dir' ? s.certsRemoteDir : allowlist, `puts ${f.path} on ${host.fqdn}, which ${problem}`, fix());
      // Each earlier file, then each directory (index loops: this runs for every file of every host).
      for (let j = 0; j < i + dirs.length; j++) {
        const isDir = j >= i;
        const other = isDir ? dirs[j - i]! : files[j]!;
        if (within(other.path, f.path) || (!isDir && within(f.path, other.path))) {
          const what = other.path === f.path ? `the same path as another file of ${host.fqdn}'s bundle` : `a directory that holds another file of ${host.fqdn}'s bundle (${other.path})`;
          fail(f.setting, f.setting === 'certs_remote_dir' ? s.certsRemoteDir : allowlist, `puts ${f.path} on ${host.fqdn}, ${what}`, fix());
        }
      }
    }
  }
}
