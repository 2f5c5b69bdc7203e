// Command-line interface: global options, one yargs command per job, exit codes 0/1/2.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { GlobalArgs } from './context.js';
import { exitCodeOf, RunError, UsageError } from './errors.js';

const EPILOG = 'Exit codes: 0 success, 1 runtime failure (a command failed, a file is wrong), 2 bad usage or invalid settings.';

function globals(y: Argv): Argv<GlobalArgs> {
  return y
    .option('dir', { alias: 'C', type: 'string', default: '.', describe: 'Project directory (holds settings.mk, certs/, out/)' })
    .option('settings', { alias: 'f', type: 'string', describe: 'Settings file (default: <dir>/settings.mk)' })
    .option('set', { type: 'string', array: true, describe: 'Override a setting: --set KEY=VALUE (repeatable)' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only errors' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'Print every step, also those up to date' })
    .option('json', { type: 'boolean', default: false, describe: 'Machine-readable result on stdout' })
    .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Show what would be done; change nothing' })
    .option('jobs', { alias: 'j', type: 'number', describe: 'Steps run in parallel (default: number of CPUs)' }) as unknown as Argv<GlobalArgs>;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const set = (p: Promise<number | void> | number | void) => Promise.resolve(p).then((c) => {
    code = typeof c === 'number' ? c : 0;
  });
  const parser = globals(yargs(argv))
    .scriptName('postfix-tls-relay')
    .usage('$0 [command] [options]\n\nBuilds a private CA, TLS keys and certificates and the Postfix configuration so that a relay\nforwards mail only for clients whose certificate fingerprint it lists.')
    .command(['build', '$0'], 'Build the CA, every key and certificate, the allowlist and the per-host bundles (default)', (y) =>
      y.example('$0 build -C ~/relay-ca', 'build from ~/relay-ca/settings.mk').example('$0 --set smtpd_server_port=2525', 'override one setting'),
    async (a) => set((await import('./cmd/build.js')).build(a as unknown as GlobalArgs).then(() => 0)))
    .command('plan', 'Show the steps a build would run; --format sh prints them as a replayable POSIX script', (y) =>
      y.option('format', { choices: ['text', 'sh'] as const, default: 'text' as const, describe: 'Output format' })
        .example('$0 plan --format sh > build.sh && sh build.sh', 'the same build as plain shell'),
    async (a) => set((await import('./cmd/build.js')).showPlan(a as unknown as GlobalArgs, (a as { format: 'text' | 'sh' }).format).then(() => 0)))
    .command('instructions', 'Print copy-paste steps for each host: files, rsync, apply.sh, postconf', (y) =>
      y.example('$0 instructions -C ~/relay-ca', 'what to do on the relay and on each client'),
    async (a) => set((await import('./cmd/info.js')).instructions(a as unknown as GlobalArgs)))
    .command('status', 'Show every certificate: serial, expiry, fingerprint, listed on the relay, revoked', (y) =>
      y.example('$0 status --json', 'the same as data'),
    async (a) => set((await import('./cmd/info.js')).status(a as unknown as GlobalArgs)))
    .command('clean', 'Move generated files to archive/clean-<time>/ (the CA key is kept there, never deleted)', (y) =>
      y.example('$0 clean -n', 'show what would be moved'),
    async (a) => set((await import('./cmd/clean.js')).clean(a as unknown as GlobalArgs)))
    .command('demo [directory]', 'Build a complete example project (CA, relay, two clients) with a throwaway GnuPG home', (y) =>
      y.positional('directory', { type: 'string', default: 'demo', describe: 'Where to build it' })
        .example('$0 demo', 'build ./demo; run again and nothing is done'),
    async (a) => set((await import('./cmd/demo.js')).demo(a as unknown as GlobalArgs & { directory: string })))
    .epilog(EPILOG)
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err ?? new UsageError(`${msg}; see postfix-tls-relay --help`);
    });
  try {
    await parser.parseAsync();
    return code;
  } catch (err) {
    const c = exitCodeOf(err);
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`postfix-tls-relay: ${msg}\n`);
    // One line by default; the failed command and its whole output with -v.
    const detail = err instanceof RunError ? err.detail : undefined;
    if (detail && argv.some((x) => x === '-v' || x === '--verbose')) process.stderr.write(`${detail.replace(/^/gm, '  ')}\n`);
    if (c === 1 && !(err instanceof Error && err.name === 'RunError') && err instanceof Error && err.stack && process.env.POSTFIX_TLS_RELAY_DEBUG) {
      process.stderr.write(`${err.stack}\n`);
    }
    return c;
  }
}

export function hideArgs(): string[] {
  return hideBin(process.argv);
}
