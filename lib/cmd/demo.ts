// `demo` (npm start): a complete example project in ./demo with a throwaway GnuPG home.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../assets.js';
import { writeFileAtomic } from '../atomic.js';
import { gpgEncrypt } from '../commands/gpg.js';
import { verify } from '../commands/openssl.js';
import type { GlobalArgs } from '../context.js';
import { loadContext, makeReporter } from '../context.js';
import { RunError } from '../errors.js';
import { run } from '../exec.js';
import { allHosts, caFiles, hostFiles, ALLOWLIST } from '../layout.js';
import { shJoin } from '../shell.js';
import { build } from './build.js';
import { instructions } from './info.js';

const DEMO_UID = 'postfix-tls-relay demo <demo@example.invalid>';

export async function demo(args: GlobalArgs & { directory: string }): Promise<void> {
  const dir = path.resolve(args.directory);
  const report = makeReporter(args);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const settingsFile = path.join(dir, 'settings.mk');
  if (!existsSync(settingsFile)) {
    writeFileAtomic(settingsFile, readFileSync(path.join(PACKAGE_ROOT, 'examples', 'demo.settings.mk')), 0o644);
    report.info(`wrote ${path.relative(process.cwd(), settingsFile)} from examples/demo.settings.mk`);
  }
  const home = path.join(dir, '.gnupg');
  process.env.GNUPGHOME = home; // every gpg below and in the build uses the throwaway home
  const step = async (argv: string[], input?: Buffer) => {
    report.info(`+ ${shJoin(argv)}`);
    const r = await run(argv, { cwd: dir, input });
    if (r.exitCode !== 0) throw new RunError(`${shJoin(argv)} failed: ${r.stderr.trim()}`);
    return r;
  };
  try {
    if (!existsSync(path.join(home, 'pubring.kbx'))) {
      mkdirSync(home, { recursive: true, mode: 0o700 });
      report.info(`throwaway GnuPG home ${path.relative(process.cwd(), home)} (GNUPGHOME), key without passphrase:`);
      await step(['gpg', '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-generate-key', DEMO_UID, 'future-default', 'default', 'never']);
    }
    const passFile = path.join(dir, 'ca-passphrase.gpg');
    if (!existsSync(passFile)) {
      report.info('random CA passphrase, encrypted from memory (it never touches the disk in plain text):');
      const secret = Buffer.from(`${randomBytes(24).toString('base64url')}\n`);
      const tmp = `${passFile}.tmp`;
      try {
        await step(gpgEncrypt('demo@example.invalid', path.basename(tmp)), secret);
        renameSync(tmp, passFile);
      } finally {
        secret.fill(0);
        rmSync(tmp, { force: true });
      }
    }
    const buildArgs: GlobalArgs = { ...args, dir, settings: undefined };
    await build(buildArgs);
    if (args.quiet || args.json) return;
    report.info('\nPer-host instructions (postfix-tls-relay instructions -C demo):\n');
    await instructions({ ...buildArgs, json: false });
    const ctx = loadContext({ ...buildArgs, quiet: true });
    const ca = caFiles(ctx.settings);
    report.info(`Allowlist ${ALLOWLIST}:\n${readFileSync(path.join(dir, ALLOWLIST), 'utf8')}`);
    report.info('Verify summary:');
    for (const h of allHosts(ctx.settings)) {
      const cmd = verify({ caFile: ca.cert, cert: hostFiles(h).cert, purpose: h.role === 'server' ? 'sslserver' : 'sslclient' });
      const r = await run(cmd.argv, { cwd: dir });
      report.info(`  ${r.exitCode === 0 ? 'OK  ' : 'FAIL'}  ${cmd.display}`);
      if (r.exitCode !== 0) throw new RunError(`verification failed for ${h.fqdn}: ${r.stderr.trim()}`);
    }
    report.info(`\nDone. Run again: nothing to do. Project: ${path.relative(process.cwd(), dir) || '.'}`);
  } finally {
    // The demo's gpg-agent should not outlive the demo.
    await run(['gpgconf', '--kill', 'gpg-agent']).catch(() => undefined);
  }
}
