// `demo` (npm start): a complete example project in ./demo with a throwaway GnuPG home.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../files/assets.js';
import { writeFileAtomic } from '../files/atomic.js';
import { verify } from '../programs/openssl.js';
import type { GlobalArgs } from '../cli/context.js';
import { loadContext, makeReporter } from '../cli/context.js';
import { RunError, UsageError } from '../errors.js';
import { run } from '../programs/exec.js';
import { allHosts, caFiles, hostFiles, ALLOWLIST } from '../files/layout.js';
import { readProjectState } from '../state/project.js';
import { createPassphraseFile } from '../secrets/passphrase-file.js';
import { shJoin } from '../programs/shell.js';
import { build } from '../services/build.js';
import { instructions } from '../services/instructions.js';

const DEMO_EMAIL = 'demo@example.invalid';
const DEMO_UID = `postfix-tls-relay demo <${DEMO_EMAIL}>`;

export async function demo(args: GlobalArgs & { directory: string }): Promise<void> {
  const dir = path.resolve(args.directory);
  const report = makeReporter(args);
  if (args.dryRun) {
    throw new UsageError(`demo --dry-run: the demo always builds; to see the steps, run postfix-tls-relay plan -C ${shJoin([path.relative(process.cwd(), dir) || '.'])}`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const settingsFile = path.join(dir, 'settings.mk');
  if (!existsSync(settingsFile)) {
    writeFileAtomic(settingsFile, readFileSync(path.join(PACKAGE_ROOT, 'examples', 'demo.settings.mk')), 0o644);
    report.info(`wrote ${path.relative(process.cwd(), settingsFile)} from examples/demo.settings.mk`);
  }
  const home = path.join(dir, '.gnupg');
  process.env.GNUPGHOME = home; // every gpg below and in the build uses the throwaway home
  const step = async (argv: string[]) => {
    report.info(`+ ${shJoin(argv)}`);
    const r = await run(argv, { cwd: dir });
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
      await createPassphraseFile(passFile, DEMO_EMAIL, { cwd: dir, info: (l) => report.info(l) });
    }
    const buildArgs: GlobalArgs = { ...args, dir, settings: undefined };
    const result = await build(loadContext(buildArgs));
    if (args.quiet || args.json) return;
    report.info('\nPer-host instructions (postfix-tls-relay instructions -C demo):\n');
    const ctx = loadContext({ ...buildArgs, quiet: true });
    process.stdout.write(`${(await instructions(ctx)).text}\n`);
    const ca = caFiles(ctx.settings);
    report.info(`Allowlist ${ALLOWLIST}:\n${readProjectState(ctx.settings).text(ALLOWLIST) ?? ''}`);
    report.info('Verify summary:');
    for (const h of allHosts(ctx.settings)) {
      const cmd = verify({ caFile: ca.cert, cert: hostFiles(h).cert, purpose: h.role === 'server' ? 'sslserver' : 'sslclient' });
      const r = await run(cmd.argv, { cwd: dir });
      report.info(`  ${r.exitCode === 0 ? 'OK  ' : 'FAIL'}  ${cmd.display}`);
      if (r.exitCode !== 0) throw new RunError(`verification failed for ${h.fqdn}: ${r.stderr.trim()}`);
    }
    const rel = path.relative(process.cwd(), dir) || '.';
    const ran = result.outcomes.some((o) => o.state === 'ran');
    report.info(
      ran
        ? `\nDone in ${(result.ms / 1000).toFixed(2)} s: the example project is ${rel}/. Run it again: nothing to do.`
        : `\nNothing to do: every file in ${rel}/ is up to date.`,
    );
    report.info(`Look around: postfix-tls-relay status -C ${rel}; postfix-tls-relay plan -v -C ${rel}; ls ${rel}/out/*/root`);
    report.info('Your own setup: postfix-tls-relay init -C ~/relay-ca (see README.md, Quick start).');
  } finally {
    // The demo's gpg-agent should not outlive the demo.
    await run(['gpgconf', '--kill', 'gpg-agent']).catch(() => undefined);
  }
}
