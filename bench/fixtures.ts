// What the benchmark runs in: a throwaway GnuPG home with a passphrase-less key, the CA passphrase
// encrypted to it, fresh project directories with a settings.mk, and the three ways to build one:
// this tool, the script from `plan --format sh` run by sh, and the seed Makefile.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestGpg, type TestGpg } from '../test/support/gpg.js';
import type { Invocation } from './harness.js';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(PACKAGE_ROOT, 'bin', 'postfix-tls-relay.js');
const PASSPHRASE_FILE = 'ca-passphrase.gpg';
export const DOMAIN = 'example.test';

export type Keys = { algorithm: 'ec' } | { algorithm: 'rsa'; caBits: number; leafBits: number };

export interface Shape {
  readonly keys: Keys;
  /** Number of smtp clients (the relay comes on top). */
  readonly clients: number;
}

export function clientNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => (i === 0 ? 'mailhost' : `client${String(i + 1).padStart(3, '0')}`));
}

export function settingsText(shape: Shape): string {
  const [first, ...more] = clientNames(shape.clients);
  const keys =
    shape.keys.algorithm === 'ec'
      ? ['key_algorithm := ec']
      : ['key_algorithm := rsa', `ca_key_bits := ${shape.keys.caBits}`, `key_bits := ${shape.keys.leafBits}`];
  return [
    `domain := ${DOMAIN}`,
    'smtpd_server_hostname := relayhost',
    `smtp_client_hostname := ${first}`,
    ...(more.length ? [`smtp_client_hostnames := ${more.join(' ')}`] : []),
    'cert_req_country := NL',
    'cert_req_organization := Example Inc.',
    ...keys,
    `certs_passphrase_file := ${PASSPHRASE_FILE}`,
    '',
  ].join('\n');
}

export function describeShape(shape: Shape): string {
  const k = shape.keys.algorithm === 'ec' ? 'EC P-256' : `RSA ${shape.keys.caBits}-bit CA, ${shape.keys.leafBits}-bit hosts`;
  return `${k}, relay + ${shape.clients} client${shape.clients === 1 ? '' : 's'}`;
}

export class Workspace {
  readonly root = mkdtempSync(path.join(os.tmpdir(), 'ptr-bench-'));
  private readonly gpg: TestGpg = createTestGpg();
  private readonly passphrase = path.join(this.root, PASSPHRASE_FILE);
  readonly env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: this.gpg.home, NO_COLOR: '1' };
  private count = 0;

  constructor() {
    this.gpg.encrypt(`${randomBytes(18).toString('base64url')}\n`, this.passphrase);
  }

  /** A fresh project directory: the encrypted passphrase and `settings` (a settings.mk text). */
  project(settings: string): string {
    const dir = path.join(this.root, `p${++this.count}`);
    mkdirSync(dir, { mode: 0o700 });
    copyFileSync(this.passphrase, path.join(dir, PASSPHRASE_FILE));
    writeFileSync(path.join(dir, 'settings.mk'), settings);
    return dir;
  }

  tool(dir: string, args: readonly string[] = []): Invocation {
    return { argv: [process.execPath, CLI, 'build', '-q', ...args], cwd: dir, env: this.env };
  }

  /** Writes plan.sh (`plan --format sh`) into `dir`, untimed; returns its run with sh. */
  shScript(dir: string): Invocation {
    const r = spawnSync(process.execPath, [CLI, 'plan', '--format', 'sh'], { cwd: dir, env: this.env, encoding: 'utf8', maxBuffer: 1 << 30 }); // a fleet's script runs to megabytes
    if (r.status !== 0) throw new Error(`plan --format sh failed in ${dir}: ${r.error?.message ?? r.stderr}`);
    writeFileSync(path.join(dir, 'plan.sh'), r.stdout);
    return { argv: ['sh', 'plan.sh'], cwd: dir, env: this.env };
  }

  /** A project directory for the seed Makefile: its Makefile and its example settings, with our passphrase file. */
  seedProject(seedDir: string): string {
    const dir = this.project(`${readFileSync(path.join(seedDir, 'settings.mk.example'), 'utf8')}\ncerts_passphrase_file := ${PASSPHRASE_FILE}\n`);
    copyFileSync(path.join(seedDir, 'Makefile'), path.join(dir, 'Makefile'));
    return dir;
  }

  make(dir: string, targets: readonly string[] = []): Invocation {
    return { argv: ['make', ...targets], cwd: dir, env: this.env };
  }

  /** Untimed check after a run: the files a complete build leaves. */
  expectFiles(dir: string, files: readonly string[]): void {
    const missing = files.filter((f) => !existsSync(path.join(dir, f)));
    if (missing.length) throw new Error(`${dir}: the build left no ${missing.join(', ')}`);
  }

  /** For a timed build of a fresh project of `shape`: it left what a complete build leaves; then it goes. */
  builtThenRemoved(shape: Shape): (inv: Invocation) => void {
    return (inv) => {
      this.expectFiles(inv.cwd, builtCerts(shape));
      this.remove(inv.cwd);
    };
  }

  remove(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
  }

  /** Stops the throwaway home's gpg-agent and, unless `keepFiles`, removes everything. */
  dispose(keepFiles = false): void {
    if (keepFiles) {
      spawnSync('gpgconf', ['--kill', 'all'], { env: this.env, stdio: 'ignore' });
      return;
    }
    this.gpg.dispose();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Certificates a complete build of `shape` leaves (relay and last client). */
export function builtCerts(shape: Shape): string[] {
  const last = clientNames(shape.clients).at(-1)!;
  return [`certs/smtpd-server/relayhost.${DOMAIN}.crt.pem`, `certs/smtp-client/${last}.${DOMAIN}.crt.pem`, 'etc/postfix/relay_clientcerts'];
}
