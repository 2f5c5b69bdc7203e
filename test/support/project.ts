// A project directory with a settings.mk and an encrypted passphrase, and a way to run the real CLI in it.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestGpg, type TestGpg } from './gpg.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = path.join(REPO_ROOT, 'bin', 'postfix-tls-relay.js');
/** The project's own stand-ins for the seed's Makefile and settings.mk.example (same format and variables). */
export const SEED_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'seed');
export const PASSPHRASE = 'correct horse battery staple 4711';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestProject {
  dir: string;
  gpg: TestGpg;
  passphraseFile: string;
  env: NodeJS.ProcessEnv;
  /** Runs `postfix-tls-relay ARGS -C dir` synchronously. */
  cli(args: string[], opts?: { env?: NodeJS.ProcessEnv; cwd?: string }): CliResult;
  file(rel: string): string;
  dispose(): void;
}

/** Runs `postfix-tls-relay ARGS -C dir` synchronously. */
function runCli(dir: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args, '-C', dir], { env, cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of a project in another directory, run with the original's environment. */
export interface ProjectCopy {
  dir: string;
  f(rel: string): string;
  cli(args: string[]): CliResult;
}

/**
 * Copies `base`'s directory into `dir` (cp -a; the caller made `dir` and removes it). The passphrase file
 * stays with the original: settings.mk names it by its absolute path.
 */
export function copyProject(base: TestProject, dir: string): ProjectCopy {
  execFileSync('cp', ['-a', `${base.dir}/.`, dir]);
  return { dir, f: (rel) => path.join(dir, rel), cli: (args) => runCli(dir, args, base.env, dir) };
}

/** Settings for a small EC project; `extra` lines are appended (make syntax). */
export function settingsText(passphraseFile: string, extra = ''): string {
  return [
    'domain := example.test',
    'smtp_client_hostname := mailhost',
    'smtpd_server_hostname := relayhost',
    'cert_req_country := NL',
    'cert_req_organization := Example Inc.',
    'key_algorithm := ec',
    `certs_passphrase_file := ${passphraseFile}`,
    extra,
    '',
  ].join('\n');
}

export function createProject(opts: { settings?: (passphraseFile: string) => string; gpg?: TestGpg } = {}): TestProject {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-proj-'));
  const gpg = opts.gpg ?? createTestGpg();
  const passphraseFile = path.join(dir, 'ca-passphrase.gpg');
  gpg.encrypt(`${PASSPHRASE}\n`, passphraseFile);
  writeFileSync(path.join(dir, 'settings.mk'), (opts.settings ?? settingsText)(passphraseFile));
  const env = { ...process.env, GNUPGHOME: gpg.home, NO_COLOR: '1' };
  return {
    dir,
    gpg,
    passphraseFile,
    env,
    cli: (args, o = {}) => runCli(dir, args, o.env ?? env, o.cwd ?? dir),
    file: (rel) => path.join(dir, rel),
    dispose() {
      if (!opts.gpg) gpg.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The usual fixture as mocha hooks: one GnuPG home for the suite and a project made with it, fresh for
 * each test (`each`, the default) or one for the whole suite. Read `.p` and `.gpg` inside the tests.
 */
export function useProject(opts: { settings?: (passphraseFile: string) => string; each?: boolean } = {}): { readonly p: TestProject; readonly gpg: TestGpg } {
  let gpg: TestGpg | undefined;
  let p: TestProject | undefined;
  const each = opts.each ?? true;
  const make = () => {
    p = createProject({ gpg, settings: opts.settings });
  };
  before(() => {
    gpg = createTestGpg();
    if (!each) make();
  });
  after(() => {
    if (!each) p?.dispose();
    gpg?.dispose();
  });
  if (each) {
    beforeEach(make);
    afterEach(() => p?.dispose());
  }
  return {
    get p() {
      return p!;
    },
    get gpg() {
      return gpg!;
    },
  };
}
