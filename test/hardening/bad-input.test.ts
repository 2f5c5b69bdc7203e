// Bad input: each case runs the real CLI on a fresh project and must end with exit 2 (usage) or 1
// (runtime), exactly one error line naming the setting or file and what to do, and nothing written.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestGpg, type TestGpg } from '../support/gpg.js';
import { requirePrerequisites } from '../support/lab.js';
import { canMount } from '../support/prereq.js';
import { CLI, createProject, settingsText, type TestProject } from '../support/project.js';
import { exampleLayout, expectCompleteTree, expectNoPartialFiles, files, isTemp, snapshot } from '../support/tree.js';

interface Case {
  name: string;
  /** Extra settings.mk lines (line 8 on), make syntax. */
  lines?: string[];
  args?: string[];
  /** Changes to the project before the run. */
  prepare?: (p: TestProject, ctx: { otherGpg: TestGpg }) => { env?: NodeJS.ProcessEnv; cleanup?: () => void } | void;
  code: 1 | 2;
  /** The error line, after "postfix-tls-relay: ". */
  error: RegExp;
  /** Needs to mount a file system. */
  mounts?: boolean;
}

const HOST = 'is not a host name \\(RFC 1123: letters, digits and inner hyphens, 1-63 characters, no dots\\)';
const at = (setting: string) => `settings\\.mk:8: ${setting}`;

/** A directory whose PATH offers only node and the given programs. */
function pathWith(programs: string[]): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-path-'));
  symlinkSync(process.execPath, path.join(dir, 'node'));
  for (const prog of programs) symlinkSync(execFileSync('sh', ['-c', `command -v ${prog}`], { encoding: 'utf8' }).trim(), path.join(dir, prog));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `secret` through gpg with `args` (e.g. --store) to the project's passphrase file. */
function gpgTo(p: TestProject, args: string[], secret: string): void {
  rmSync(p.passphraseFile, { force: true });
  execFileSync('gpg', ['--batch', '--yes', ...args, '--output', p.passphraseFile], { env: p.env, input: secret, stdio: ['pipe', 'pipe', 'pipe'] });
}

const CASES: Case[] = [
  // Host names: shell metacharacters, quoting, spaces, control and non-ASCII characters, DNS limits.
  { name: 'hostname with ;', lines: ['smtp_client_hostname := mail;rm -rf ~'], code: 2, error: new RegExp(`^${at('smtp_client_hostname')} = "mail;rm -rf ~" ${HOST}$`) },
  { name: 'hostname with $(…) (make reference)', lines: ['smtp_client_hostname := mail$(reboot)'], code: 2, error: /^settings\.mk:8: smtp_client_hostname refers to undefined \$\(reboot\); define it in settings\.mk or the environment$/ },
  { name: 'hostname with a literal $(…)', lines: ['smtp_client_hostname := mail$$(reboot)'], code: 2, error: new RegExp(`^${at('smtp_client_hostname')} = "mail\\$\\(reboot\\)" ${HOST}$`) },
  { name: 'hostname with backticks', lines: ['smtpd_server_hostname := relay`id`'], code: 2, error: new RegExp(`^${at('smtpd_server_hostname')} = "relay\`id\`" ${HOST}$`) },
  { name: 'hostname in double quotes', lines: ['smtp_client_hostname := "mailhost"'], code: 2, error: new RegExp(`^${at('smtp_client_hostname')} = ""mailhost"" ${HOST}$`) },
  { name: 'fqdn with a single quote', lines: ["smtpd_server_fqdn := relay'host.example.test"], code: 2, error: /^settings\.mk:8: smtpd_server_fqdn = "relay'host\.example\.test" is not a DNS name/ },
  { name: 'hostname with a space', lines: ['smtp_client_hostname := mail host'], code: 2, error: new RegExp(`^${at('smtp_client_hostname')} = "mail host" ${HOST}$`) },
  { name: 'hostname with a newline (--set)', args: ['--set', 'smtp_client_hostname=mail\nhost'], code: 2, error: new RegExp(`^--set: smtp_client_hostname = "mail\\\\x0ahost" ${HOST}$`) },
  { name: 'non-ASCII hostname', lines: ['smtp_client_hostname := mäilhost'], code: 2, error: new RegExp(`^${at('smtp_client_hostname')} = "mäilhost" ${HOST}$`) },
  { name: 'fqdn with an empty label', lines: ['smtpd_server_fqdn := relayhost..example.test'], code: 2, error: /^settings\.mk:8: smtpd_server_fqdn = "relayhost\.\.example\.test" has an empty label/ },
  { name: 'fqdn with a label over 63 characters', lines: [`smtpd_server_fqdn := ${'a'.repeat(64)}.example.test`], code: 2, error: /^settings\.mk:8: smtpd_server_fqdn = "a{64}\.example\.test" has a label of 64 characters; at most 63 are allowed$/ },
  { name: 'fqdn with a trailing dot', lines: ['smtpd_server_fqdn := relayhost.example.test.'], code: 2, error: /^settings\.mk:8: smtpd_server_fqdn = "relayhost\.example\.test\." ends with a dot; write the name without the trailing dot$/ },
  { name: 'domain with a trailing dot', lines: ['domain := example.test.'], code: 2, error: /^settings\.mk:8: domain = "example\.test\." ends with a dot/ },
  // Numbers.
  { name: 'port 0', lines: ['smtpd_server_port := 0'], code: 2, error: /^settings\.mk:8: smtpd_server_port = 0 is out of range; use a port number from 1 to 65535$/ },
  { name: 'port 65536', lines: ['smtpd_server_port := 65536'], code: 2, error: /^settings\.mk:8: smtpd_server_port = 65536 is out of range; use a port number from 1 to 65535$/ },
  { name: 'port as text', lines: ['smtpd_server_port := smtp'], code: 2, error: /^settings\.mk:8: smtpd_server_port = "smtp" is not a whole number; use a port number from 1 to 65535$/ },
  { name: 'days 0', lines: ['days := 0'], code: 2, error: /^settings\.mk:8: days = 0 is out of range; use a number of days from 1 to 36500$/ },
  { name: 'negative days', lines: ['days := -30'], code: 2, error: /^settings\.mk:8: days = "-30" is not a whole number; use a number of days from 1 to 36500$/ },
  // Algorithms.
  { name: 'unknown signing digest', lines: ['csr_digest := sha999'], code: 2, error: /^settings\.mk:8: csr_digest = "sha999" is not a digest openssl can sign with; use one of sha224, sha256/ },
  { name: 'weak signing digest', lines: ['csr_digest := md5'], code: 2, error: /^settings\.mk:8: csr_digest = "md5" is too weak to sign certificates; use sha256$/ },
  { name: 'unknown fingerprint digest', lines: ['signature_hash := sha3'], code: 2, error: /^settings\.mk:8: signature_hash = "sha3" is not a fingerprint digest; use one of md5, sha1/ },
  { name: 'unknown cipher', lines: ['ca_key_cipher := rot13'], code: 2, error: /^settings\.mk:8: ca_key_cipher = "rot13" is not a cipher openssl can encrypt a key with; use aes256/ },
  { name: 'unauthenticated cipher mode', lines: ['ca_key_cipher := aes-256-ecb'], code: 2, error: /^settings\.mk:8: ca_key_cipher = "aes-256-ecb" is not a cipher openssl can encrypt a key with/ },
  { name: 'unknown key algorithm', lines: ['key_algorithm := dsa'], code: 2, error: /^settings\.mk:8: key_algorithm = "dsa" is not one of rsa, ec$/ },
  { name: 'RSA key below 2048 bits', lines: ['key_algorithm := rsa', 'key_bits := 1024'], code: 2, error: /^settings\.mk:9: key_bits = 1024 is too small or too large \(RSA below 2048 bits is broken\); use an RSA key size from 2048 to 16384$/ },
  { name: 'RSA CA key below 2048 bits', lines: ['ca_key_bits := 1536'], code: 2, error: /^settings\.mk:8: ca_key_bits = 1536 is too small or too large/ },
  // The settings file.
  { name: 'syntax error (line number)', lines: ['smtpd_server_port := 2500', 'this is not make'], code: 2, error: /^settings\.mk:9: expected an assignment such as "name := value", found "this is not make"$/ },
  { name: 'unterminated reference (line number)', lines: ['smtpd_server_fqdn := relayhost.$(domain'], code: 2, error: /^settings\.mk:8: unterminated variable reference "\$\(domain"$/ },
  { name: 'make function', lines: ['smtp_client_hostname := $(shell hostname)'], code: 2, error: /^settings\.mk:8: make function "shell" is not supported/ },
  { name: 'undefined variable in a used setting', lines: ['smtpd_server_fqdn := relayhost.${domian}'], code: 2, error: /^settings\.mk:8: smtpd_server_fqdn refers to undefined \$\(domian\); define it in settings\.mk or the environment$/ },
  { name: 'missing settings file', args: ['-f', 'nosuch.mk'], code: 2, error: /^nosuch\.mk: settings file not found; create it .* or name another with -f FILE$/ },
  { name: 'unknown setting on the command line', args: ['--set', 'smtpd_server_prot=25'], code: 2, error: /^--set smtpd_server_prot: unknown setting; did you mean smtpd_server_port\?/ },
  { name: 'unknown option', args: ['--frobnicate'], code: 2, error: /^Unknown argument: frobnicate; see postfix-tls-relay --help$/ },
  { name: 'remote path with a space', lines: ['certs_remote_dir := /etc/postfix tls'], code: 2, error: /^settings\.mk:8: certs_remote_dir = "\/etc\/postfix tls" has characters Postfix settings cannot hold/ },
  { name: 'a host named twice', lines: ['smtp_client_hostnames := mailhost'], code: 2, error: /^settings\.mk: mailhost\.example\.test is named twice .*; remove the duplicate$/ },
  { name: 'country not a two-letter code', lines: ['cert_req_country := Netherlands'], code: 2, error: /^settings\.mk:8: cert_req_country = "Netherlands" is not a two-letter country code such as NL$/ },
  // The passphrase file.
  { name: 'passphrase file missing', lines: ['certs_passphrase_file := nosuch.gpg'], code: 2, error: /^certs_passphrase_file: \/.*\/nosuch\.gpg not found; create it .* or fix the path in settings\.mk$/ },
  {
    name: 'passphrase file not gpg data', code: 1,
    prepare: (p) => writeFileSync(p.passphraseFile, 'correct horse battery staple 4711\n'),
    error: /^certs_passphrase_file: gpg cannot decrypt \/.*ca-passphrase\.gpg: gpg: no valid OpenPGP data found; check that it is GnuPG data encrypted to a secret key you have/,
  },
  {
    name: 'passphrase encrypted to a key we do not have', code: 1,
    prepare: (p, { otherGpg }) => otherGpg.encrypt('correct horse battery staple 4711\n', p.passphraseFile),
    // GnuPG 2.4 (Debian 13) says first "public key decryption failed: No secret key", 2.2 only "decryption failed: …".
    error: /^certs_passphrase_file: gpg cannot decrypt \/.*ca-passphrase\.gpg: gpg: (public key )?decryption failed: No secret key; check that it is GnuPG data encrypted to a secret key you have/,
  },
  {
    // As in a container without the host's agent socket: the key needs its passphrase, nothing can ask.
    name: 'passphrase encrypted to a protected key, no terminal for pinentry', code: 1,
    prepare: (p) => {
      const locked = createTestGpg('key passphrase 0815');
      writeFileSync(path.join(locked.home, 'gpg-agent.conf'), `pinentry-program ${execFileSync('sh', ['-c', 'command -v pinentry-curses || command -v pinentry'], { encoding: 'utf8' }).trim()}\n`);
      locked.encrypt('correct horse battery staple 4711\n', p.passphraseFile);
      const env: NodeJS.ProcessEnv = { ...p.env, GNUPGHOME: locked.home };
      for (const v of ['GPG_TTY', 'DISPLAY', 'WAYLAND_DISPLAY', 'GPG_AGENT_INFO']) delete env[v];
      return { env, cleanup: () => locked.dispose() };
    },
    error: /^certs_passphrase_file: gpg cannot decrypt \/.*ca-passphrase\.gpg: gpg: public key decryption failed: Inappropriate ioctl for device; gpg-agent found no way to ask for your key's passphrase \(no usable pinentry or terminal\); run export GPG_TTY=\$\(tty\) first, or in a container mount the host's gpg-agent socket/,
  },
  {
    name: 'passphrase shorter than openssl accepts', code: 2,
    prepare: (p) => p.gpg.encrypt('abc\n', p.passphraseFile),
    error: /^certs_passphrase_file: \/.*ca-passphrase\.gpg decrypts to a passphrase shorter than 4 characters; openssl needs at least 4$/,
  },
  {
    name: 'passphrase with a first line of 1024 bytes (openssl reads 1023)', code: 2,
    prepare: (p) => p.gpg.encrypt(`${'x'.repeat(1024)}\n`, p.passphraseFile),
    error: /^certs_passphrase_file: \/.*ca-passphrase\.gpg decrypts to a passphrase with a first line of 1024 bytes; openssl reads at most 1023, so use a passphrase of 4 to 1023 bytes$/,
  },
  {
    name: 'passphrase holding a NUL byte', code: 2,
    prepare: (p) => p.gpg.encrypt('correct horse\0battery staple\n', p.passphraseFile),
    error: /^certs_passphrase_file: \/.*ca-passphrase\.gpg decrypts to a passphrase holding a NUL byte, where openssl would stop reading/,
  },
  {
    name: 'passphrase file not encrypted (gpg --store)', code: 2,
    prepare: (p) => gpgTo(p, ['--store'], 'correct horse battery staple 4711\n'),
    error: /^certs_passphrase_file: \/.*ca-passphrase\.gpg is not encrypted \(gpg --store or --sign\?\): anyone can read it; it must be encrypted to a key: gpg --encrypt -r YOUR-KEY/,
  },
  {
    name: 'passphrase file only clear-signed (gpg --clearsign)', code: 2,
    prepare: (p) => gpgTo(p, ['--clearsign'], 'correct horse battery staple 4711\n'),
    error: /^certs_passphrase_file: \/.*ca-passphrase\.gpg is signed, not encrypted \(gpg --sign or --clearsign\): anyone can read it; it must be encrypted to a key/,
  },
  {
    name: 'passphrase file encrypted with a password only (gpg --symmetric)', code: 2,
    prepare: (p) => gpgTo(p, ['--pinentry-mode', 'loopback', '--passphrase', 'pw', '--symmetric'], 'correct horse battery staple 4711\n'),
    error: /^certs_passphrase_file: \/.*ca-passphrase\.gpg is encrypted with a password only \(gpg --symmetric\); it must be encrypted to a key/,
  },
  // Remote paths: each bundle file its own, none of Postfix's or the system's, directories of their own.
  { name: 'allowlist path is main.cf', lines: ['smtpd_server_relay_clientcerts_in := /etc/postfix/main.cf'], code: 2, error: /^settings\.mk:8: smtpd_server_relay_clientcerts_in = "\/etc\/postfix\/main\.cf" puts \/etc\/postfix\/main\.cf on relayhost\.example\.test, which is main\.cf, which Postfix owns, in smtpd_server_postfix_dir \(\/etc\/postfix\); name a file of its own/ },
  { name: 'allowlist path is master.cf of the default instance', lines: ['smtpd_server_postfix_dir := /etc/postfix-relay', 'smtpd_server_relay_clientcerts_in := /etc/postfix/master.cf'], code: 2, error: /^settings\.mk:9: smtpd_server_relay_clientcerts_in = "\/etc\/postfix\/master\.cf" .* which is master\.cf, which Postfix owns, in the default Postfix instance/ },
  { name: 'allowlist path is a Postfix map (transport.db)', lines: ['smtpd_server_relay_clientcerts_in := /etc/postfix/transport.db'], code: 2, error: /^settings\.mk:8: smtpd_server_relay_clientcerts_in = .* which is transport\.db, which Postfix owns/ },
  { name: 'allowlist path is the relay key', lines: ['smtpd_server_relay_clientcerts_in := /etc/postfix-tls-based-relaying/smtpd-server/relayhost.example.test.key.pem'], code: 2, error: /^settings\.mk:8: smtpd_server_relay_clientcerts_in = .* the same path as another file of relayhost\.example\.test's bundle; name a file of its own/ },
  { name: 'allowlist path is the CA certificate', lines: ['smtpd_server_relay_clientcerts_in := /etc/postfix-tls-based-relaying/ca/example.test-ca.crt.pem'], code: 2, error: /^settings\.mk:8: smtpd_server_relay_clientcerts_in = .* the same path as another file of relayhost\.example\.test's bundle/ },
  { name: 'allowlist path is the apply script', lines: ['smtpd_server_relay_clientcerts_in := /etc/postfix-tls-based-relaying/apply-smtpd-server.sh'], code: 2, error: /^settings\.mk:8: smtpd_server_relay_clientcerts_in = .* the same path as another file/ },
  { name: 'allowlist path is a bundle directory', lines: ['smtpd_server_relay_clientcerts_in := /etc/postfix-tls-based-relaying/ca'], code: 2, error: /^settings\.mk:8: smtpd_server_relay_clientcerts_in = .* a directory that holds another file of relayhost\.example\.test's bundle/ },
  { name: 'allowlist path is /etc/passwd', lines: ['smtpd_server_relay_clientcerts_in := /etc/passwd'], code: 2, error: /^settings\.mk:8: smtpd_server_relay_clientcerts_in = "\/etc\/passwd" puts \/etc\/passwd on relayhost\.example\.test, which is a system file/ },
  { name: 'allowlist path in /etc/ssh', lines: ['smtpd_server_relay_clientcerts_in := /etc/ssh/sshd_config'], code: 2, error: /^settings\.mk:8: smtpd_server_relay_clientcerts_in = .* which is inside \/etc\/ssh, which belongs to the system/ },
  { name: 'certs_remote_dir is /tmp', lines: ['certs_remote_dir := /tmp'], code: 2, error: /^settings\.mk:8: certs_remote_dir = "\/tmp" is a system directory \(apply\.sh would make it 0755 and own it\); name a directory of its own/ },
  { name: 'certs_remote_dir is /', lines: ['certs_remote_dir := /'], code: 2, error: /^settings\.mk:8: certs_remote_dir = "\/" is a system directory/ },
  { name: 'certs_remote_dir is /etc/postfix', lines: ['certs_remote_dir := /etc/postfix'], code: 2, error: /^settings\.mk:8: certs_remote_dir = "\/etc\/postfix" holds the Postfix config directory \/etc\/postfix/ },
  { name: 'certs_remote_dir is /var/lib', lines: ['certs_remote_dir := /var/lib'], code: 2, error: /^settings\.mk:8: certs_remote_dir = "\/var\/lib" is a system directory/ },
  { name: 'certs_remote_dir inside /usr', lines: ['certs_remote_dir := /usr/share/relay'], code: 2, error: /^settings\.mk:8: certs_remote_dir = "\/usr\/share\/relay" is inside \/usr, which belongs to the system/ },
  { name: 'Postfix config dir is /etc', lines: ['smtp_client_postfix_dir := /etc'], code: 2, error: /^settings\.mk:8: smtp_client_postfix_dir = "\/etc" is a system directory .*; name the directory that holds main\.cf/ },
  // What goes into a certificate.
  { name: 'relay fqdn longer than a common name holds', lines: [`smtpd_server_fqdn := ${'r'.repeat(60)}.example.test`], code: 2, error: /^settings\.mk:8: smtpd_server_fqdn = "r{60}\.example\.test" is 73 characters long; it is the certificate's common name, which holds at most 64/ },
  { name: 'client fqdn longer than a common name holds', lines: [`smtp_client_hostnames := ${'c'.repeat(55)}`], code: 2, error: /^settings\.mk:8: smtp_client_hostnames: "c{55}\.example\.test" is 68 characters long; it is the certificate's common name/ },
  // References that only fail when expanded, and the environment.
  { name: 'make function in --set', args: ['--set', 'smtpd_server_port=$(shell id)'], code: 2, error: /^--set smtpd_server_port: make function "shell" is not supported/ },
  { name: 'unterminated reference in --set', args: ['--set', 'smtpd_server_fqdn=${x'], code: 2, error: /^--set smtpd_server_fqdn: unterminated variable reference "\$\{x"$/ },
  { name: 'self-referencing recursive variable', lines: ['smtpd_server_fqdn = $(smtpd_server_fqdn).example.test'], code: 2, error: /^settings\.mk:8: recursive variable 'smtpd_server_fqdn' references itself \(eventually\): smtpd_server_fqdn -> smtpd_server_fqdn$/ },
  { name: 'recursive variables referencing each other', lines: ['smtpd_server_fqdn = $(smtp_client_fqdn)', 'smtp_client_fqdn = $(smtpd_server_fqdn)'], code: 2, error: /^settings\.mk:8: recursive variable 'smtpd_server_fqdn' references itself \(eventually\): smtpd_server_fqdn -> smtp_client_fqdn -> smtpd_server_fqdn$/ },
  {
    name: 'empty environment variable named like a setting (make keeps it empty)', code: 2,
    prepare: (p) => ({ env: { ...p.env, days: '' } }),
    error: /^environment: days = "" is not a whole number; use a number of days from 1 to 36500$/,
  },
  // Who may change the project (like ssh with ~/.ssh).
  {
    name: 'project directory writable by everyone', code: 1,
    prepare: (p) => chmodSync(p.dir, 0o777),
    error: /^\S+: writable by everyone \(mode 0777\), so another user can change what is built and shipped; chmod go-w \S+ \(and check what is in it\)$/,
  },
  {
    name: 'out/ made by another user', code: 1,
    prepare: (p) => {
      mkdirSync(p.file('out'), { mode: 0o755 });
      chownSync(p.file('out'), 65534, 65534);
    },
    error: /^out: owned by uid 65534, not by you \(uid 0\) or root, so another user can change what is built and shipped; chown root out/,
  },
  {
    name: 'etc/postfix writable by its group', code: 1,
    prepare: (p) => {
      mkdirSync(p.file('etc/postfix'), { recursive: true });
      chmodSync(p.file('etc/postfix'), 0o775);
    },
    error: /^etc\/postfix: writable by its group \(mode 0775\)/,
  },
  {
    name: 'settings.mk writable by everyone', code: 1,
    prepare: (p) => chmodSync(p.file('settings.mk'), 0o666),
    error: /^settings\.mk: writable by everyone \(mode 0666\), so another user can change what is built and shipped; chmod go-w settings\.mk$/,
  },
  {
    name: 'audit.log planted as a symlink', code: 1,
    prepare: (p) => symlinkSync('/etc/hostname', p.file('audit.log')),
    error: /^audit\.log: a symbolic link, and postfix-tls-relay never appends through one; remove it \(rm audit\.log\) and run again$/,
  },
  // The machine.
  {
    name: 'openssl not on PATH', code: 1,
    prepare: (p) => {
      const bin = pathWith(['gpg']);
      return { env: { ...p.env, PATH: bin.dir }, cleanup: bin.cleanup };
    },
    error: /^openssl: command not found on PATH; install it \(Debian package openssl\)$/,
  },
  {
    name: 'gpg not on PATH', code: 1,
    prepare: (p) => {
      const bin = pathWith(['openssl']);
      return { env: { ...p.env, PATH: bin.dir }, cleanup: bin.cleanup };
    },
    error: /^gpg: command not found on PATH; install it \(Debian package gnupg\)$/,
  },
  {
    name: 'read-only project directory', code: 1, mounts: true,
    prepare: (p) => {
      execFileSync('mount', ['--bind', p.dir, p.dir]);
      execFileSync('mount', ['-o', 'remount,bind,ro', p.dir]);
      return { cleanup: () => execFileSync('umount', [p.dir]) };
    },
    error: /^\.postfix-tls-relay: cannot create the state directory \(EROFS\): the file system is read-only; run in a writable project directory$/,
  },
];

describe('hardening: bad input matrix', function () {
  this.timeout(300_000);
  let gpg: TestGpg;
  let otherGpg: TestGpg;

  before(() => {
    gpg = createTestGpg();
    otherGpg = createTestGpg();
  });
  after(() => {
    gpg.dispose();
    otherGpg.dispose();
  });

  it(`has at least 70 cases (${CASES.length})`, () => {
    expect(CASES.length).to.be.at.least(70);
  });

  for (const c of CASES) {
    it(`${c.name}: exit ${c.code}, one line naming the setting or file, nothing written`, function () {
      if (c.mounts) requirePrerequisites(this, canMount());
      const p = createProject({ gpg, settings: (f) => settingsText(f, (c.lines ?? []).join('\n')) });
      let cleanup: (() => void) | undefined;
      try {
        const env = c.prepare?.(p, { otherGpg }) ?? {};
        cleanup = env.cleanup;
        const before = snapshot(p.dir);
        const r = p.cli(['build', ...(c.args ?? [])], { env: env.env });
        const lines = r.stderr.split('\n').filter(Boolean);
        expect(lines, r.stderr).to.have.length(1);
        expect(lines[0]!.replace(/^postfix-tls-relay: /, '')).to.match(c.error);
        expect(r.code, r.stderr).to.equal(c.code);
        expect(r.stdout).to.equal('');
        expect(snapshot(p.dir), 'the failed run wrote something').to.deep.equal(before);
      } finally {
        cleanup?.();
        p.dispose();
      }
    });
  }
});

describe('hardening: a full disk', function () {
  this.timeout(300_000);
  let gpg: TestGpg | undefined;
  let mnt: string;

  before(function () {
    requirePrerequisites(this, canMount());
    gpg = createTestGpg();
  });
  after(() => gpg?.dispose());
  beforeEach(() => {
    mnt = mkdtempSync(path.join(os.tmpdir(), 'ptr-tiny-'));
  });
  let made: TestProject[] = [];
  afterEach(() => {
    for (const p of made) p.dispose();
    made = [];
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  /** A project on a tmpfs of `size` mounted at `mnt`; `run` runs the CLI in it. */
  function projectOnTmpfs(size: string) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', mnt]);
    const p = createProject({ gpg });
    made.push(p);
    const dir = path.join(mnt, 'project');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'settings.mk'), settingsText(p.passphraseFile));
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args, '-C', dir], { env: p.env, cwd: dir, encoding: 'utf8' });
    return { dir, run };
  }

  it('a project on a 64 KiB file system: exit 1, one line naming the file and the fix, no partial file; with room again the rerun completes', () => {
    const { dir, run } = projectOnTmpfs('64k');
    const r = run(['build', '-j', '1']);
    expect(r.status, r.stderr).to.equal(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('postfix-tls-relay:'));
    expect(errors, r.stderr).to.have.length(1);
    expect(errors[0]).to.match(/^postfix-tls-relay: \S+: .*no space left on the device; free some space and run again \(finished files are kept\)$/);
    expectNoPartialFiles(dir);
    expect(files(dir).filter(isTemp)).to.deep.equal([]);
    execFileSync('mount', ['-o', 'remount,size=8m', mnt]);
    const again = run(['build']);
    expect(again.status, again.stderr).to.equal(0);
    expectCompleteTree(dir, exampleLayout());
  });

  it('openssl ca on a full disk (it empties index.txt and says "Database updated"): the CA database is rolled back whole', () => {
    const { dir, run } = projectOnTmpfs('256k');
    expect(run(['build']).status).to.equal(0);
    // Past the racy second, a build that signs records what it learnt of the keys (keys.json), so that the
    // build below writes nothing before openssl ca, on a busy machine as on an idle one.
    execFileSync('sleep', ['1.1']);
    rmSync(path.join(dir, 'certs/smtp-client/mailhost.example.test.crt.pem'));
    expect(run(['build']).status).to.equal(0);
    const db = (f: string) => path.join(dir, 'certs/ca/db', f);
    const index = readFileSync(db('index.txt'));
    const attr = readFileSync(db('index.txt.attr'));
    const archived = readdirSync(db('newcerts')).sort();
    rmSync(path.join(dir, 'certs/smtp-client/mailhost.example.test.crt.pem')); // one certificate to sign
    // Fill the file system, then free one page: enough for the lock file, nothing for openssl.
    spawnSync('dd', ['if=/dev/zero', `of=${path.join(mnt, 'filler')}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
    execFileSync('truncate', ['-s', '-4096', path.join(mnt, 'filler')]);
    const r = run(['build', '-j', '1']);
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stderr.trim().split('\n').pop(), r.stderr).to.equal('postfix-tls-relay: certs/ca/db/index.txt, certs/ca/db/index.txt.attr: openssl ca left the CA database damaged (disk full?); the previous database was restored; free some space and run again');
    expect(readFileSync(db('index.txt')).equals(index), 'index.txt restored').to.equal(true);
    expect(readFileSync(db('index.txt.attr')).equals(attr), 'index.txt.attr restored').to.equal(true);
    expect(readdirSync(db('newcerts')).sort(), 'the failed signature is not archived').to.deep.equal(archived);
    expectNoPartialFiles(dir);
    rmSync(path.join(mnt, 'filler'));
    const again = run(['build']);
    expect(again.status, again.stderr).to.equal(0);
    expectCompleteTree(dir, exampleLayout());
    expect(readFileSync(db('index.txt'), 'utf8').split('\n').filter(Boolean)).to.have.length(4);
  });

  it('a changed file that could not be written for lack of space is written by the next run (its change is not forgotten)', () => {
    const p = createProject({ gpg });
    try {
      expect(p.cli(['build']).code).to.equal(0);
      // out/ on its own small file system, then filled up.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', mnt]);
      execFileSync('cp', ['-a', `${p.file('out')}/.`, mnt]);
      execFileSync('mount', ['--bind', mnt, p.file('out')]);
      try {
        spawnSync('dd', ['if=/dev/zero', `of=${path.join(mnt, 'filler')}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
        const r = p.cli(['build', '--set', 'smtpd_server_port=2525']);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr.trim().split('\n').pop()).to.match(/^postfix-tls-relay: out\/\S+: cannot write \(ENOSPC\): no space left on the device; free some space and run again/);
        expectNoPartialFiles(p.dir);
        rmSync(path.join(mnt, 'filler'));
        const again = p.cli(['build', '--set', 'smtpd_server_port=2525']);
        expect(again.code, again.stderr).to.equal(0);
        for (const f of ['out/relayhost.example.test/apply.sh', 'out/mailhost.example.test/apply.sh']) {
          expect(readFileSync(p.file(f), 'utf8'), f).to.include('2525');
        }
      } finally {
        spawnSync('umount', [p.file('out')]);
      }
    } finally {
      p.dispose();
    }
  });
});

describe('hardening: paths with spaces', function () {
  this.timeout(120_000);

  it('a project and a passphrase file whose paths hold spaces build, and the printed plan replays in sh', () => {
    const gpg = createTestGpg();
    const base = mkdtempSync(path.join(os.tmpdir(), 'ptr spaces '));
    try {
      const dir = path.join(base, 'relay CA');
      const again = path.join(base, 'replayed CA');
      for (const d of [dir, again]) {
        mkdirSync(d);
        gpg.encrypt('correct horse battery staple 4711\n', path.join(d, 'ca passphrase.gpg'));
        writeFileSync(path.join(d, 'settings.mk'), settingsText('ca passphrase.gpg'));
      }
      const env = { ...process.env, GNUPGHOME: gpg.home, NO_COLOR: '1' };
      const r = spawnSync(process.execPath, [CLI, 'build', '-C', dir], { env, cwd: base, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      expectCompleteTree(dir, exampleLayout());
      const script = spawnSync(process.execPath, [CLI, 'plan', '--format', 'sh', '-C', again], { env, cwd: again, encoding: 'utf8' });
      expect(script.status, script.stderr).to.equal(0);
      const sh = spawnSync('sh', ['-c', script.stdout], { env, cwd: again, encoding: 'utf8' });
      expect(sh.status, sh.stderr).to.equal(0);
      expectCompleteTree(again, exampleLayout());
    } finally {
      gpg.dispose();
      rmSync(base, { recursive: true, force: true });
    }
  });
});
