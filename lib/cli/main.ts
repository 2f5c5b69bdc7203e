// Command-line interface: global options, one yargs command per job, exit codes 0/1/2.
// yargs is loaded only when needed: a plain `build` is parsed without it (see options.ts).
import type { Argv, Options } from 'yargs';
import type { InitArgs } from '../commands/init.js';
import type { GlobalArgs } from './context.js';
import { REVOKE_REASONS } from '../programs/openssl.js';
import { exitCodeOf, RunError, UsageError } from '../errors.js';
import { GLOBAL_OPTIONS, plainCommand, wholeNumber, type PlainCommand } from './options.js';
import { PLUGIN_CODES, unknownResult } from '../monitoring/nagios.js';

/** Shown under every command's --help. */
export const EPILOG = [
  'Exit codes: 0 success, 1 runtime failure (a command failed, a file is missing or wrong),',
  '2 bad usage or invalid settings (the message names the option, setting or file).',
  'With --nagios (status, check, dns): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, as the plugin API says.',
  'NO_COLOR turns colours off. GNUPGHOME: the GnuPG home that decrypts the CA passphrase.',
].join('\n');

export function globals(y: Argv): Argv<GlobalArgs> {
  const options: Record<string, Options> = {};
  for (const o of GLOBAL_OPTIONS) {
    options[o.name] = { type: o.type, describe: o.describe, ...(o.alias ? { alias: o.alias } : {}), ...(o.array ? { array: true } : {}), ...(o.default !== undefined ? { default: o.default } : {}) };
  }
  return y.options(options) as unknown as Argv<GlobalArgs>;
}

/** -K: a non-root *_ssh_user's sudo wants a password; asked once, sent on sudo's stdin. */
function sudoPass<T>(y: Argv<T>) {
  return y.option('ask-sudo-pass', { alias: 'K', type: 'boolean', default: false, describe: 'Ask for the sudo password of a non-root ssh user (sent on sudo\'s stdin only)' });
}

function sshOption<T>(y: Argv<T>) {
  return y.option('ssh-option', {
    type: 'string',
    array: true,
    describe: 'Pass -o KEY=VALUE to every ssh and rsync call (repeatable; wins over the ssh_options setting)',
  });
}

/**
 * A plain build, plan, status or add-client, with what yargs would give the command's own options by default
 * (test/unit/options.test.ts holds the two to the same meaning).
 */
export const PLAIN_DEFAULTS: Record<PlainCommand, Record<string, unknown>> = {
  build: {},
  plan: { format: 'text' },
  status: { check: false, warnDays: 30, crlWarnDays: 7, critDays: 14, format: 'text', nagios: false },
  'add-client': {},
};

async function runPlain(command: PlainCommand, globalArgs: GlobalArgs, positionals: readonly string[]): Promise<number> {
  const args = { ...globalArgs, ...PLAIN_DEFAULTS[command] };
  if (command === 'add-client') return (await import('../commands/add-client.js')).addClient({ ...args, host: positionals[0]! });
  if (command === 'build') {
    await (await import('../commands/build.js')).build(args);
    return 0;
  }
  if (command === 'plan') {
    await (await import('../commands/plan.js')).plan(args, 'text');
    return 0;
  }
  return (await import('../commands/status.js')).status(args);
}

/** --version or -V anywhere before a `--`: every other word is ignored, as other CLIs do. */
export function wantsVersion(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--version' || a === '-V');
}

export async function main(argv: string[]): Promise<number> {
  try {
    if (wantsVersion(argv)) {
      process.stdout.write(`postfix-tls-relay ${(await import('../monitoring/version.js')).toolVersion()}\n`);
      return 0;
    }
    const plain = plainCommand(argv);
    if (plain) return await runPlain(plain.command, plain.args, plain.positionals);
    return await withYargs(argv);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // Plugin mode (status/check --nagios): any failure, a usage error too, is UNKNOWN on stdout.
    if (argv.includes('--nagios')) {
      process.stdout.write(`${unknownResult(msg).line}\n`);
      return PLUGIN_CODES.UNKNOWN;
    }
    const c = exitCodeOf(err);
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

async function withYargs(argv: string[]): Promise<number> {
  const { default: yargs } = await import('yargs');
  let code = 0;
  const set = (p: Promise<number | void> | number | void) => Promise.resolve(p).then((c) => {
    code = typeof c === 'number' ? c : 0;
  });
  const parser = globals(yargs(argv))
    .scriptName('postfix-tls-relay')
    .usage('$0 [command] [options]\n\nBuilds a private CA, TLS keys and certificates and the Postfix configuration so that a relay\nforwards mail only for clients whose certificate fingerprint it lists.')
    .command(['build', '$0'], 'Build the CA, every key and certificate, the allowlist and the per-host bundles (default)', (y) =>
      y.epilog(EPILOG).example('$0 build -C ~/relay-ca', 'build from ~/relay-ca/settings.mk').example('$0 --set smtpd_server_port=2525', 'override one setting'),
    async (a) => set((await import('../commands/build.js')).build(a as unknown as GlobalArgs).then(() => 0)))
    .command('plan', 'Show the steps a build would run; --format sh prints them as a replayable POSIX script', (y) =>
      y.epilog(EPILOG).option('format', { choices: ['text', 'sh'] as const, default: 'text' as const, describe: 'Output format' })
        .example('$0 plan --format sh > build.sh && sh build.sh', 'the same build as plain shell'),
    async (a) => set((await import('../commands/plan.js')).plan(a as unknown as GlobalArgs, (a as { format: 'text' | 'sh' }).format).then(() => 0)))
    .command('instructions', 'Print copy-paste steps for each host: files, rsync, apply.sh, postconf', (y) =>
      y.epilog(EPILOG).option('dns', { type: 'boolean', default: false, describe: 'End each relay\'s steps with what `dns` prints now (asks DNS and the relays)' })
        .option('resolver', { type: 'string', describe: 'With --dns: ask this DNS server (an IP address)' })
        .example('$0 instructions -C ~/relay-ca', 'what to do on the relay and on each client')
        .example('$0 instructions --dns', 'and, for each relay, the PTR, HELO and SPF records receivers check'),
    async (a) => set((await import('../commands/instructions.js')).instructions(a as unknown as import('../commands/instructions.js').InstructionsArgs)))
    .command('status', 'Show every certificate: serial, expiry, fingerprint, listed on the relay, revoked; the CRL; rotations', (y) =>
      y.epilog(EPILOG).option('check', { type: 'boolean', default: false, describe: 'Exit 1 when something expires within --warn-days, is missing, or is revoked but listed' })
        .option('warn-days', { type: 'string', default: '30', coerce: wholeNumber('warn-days', 'days'), describe: 'Days before expiry that count as a problem' })
        .option('crl-warn-days', { type: 'string', default: '7', coerce: wholeNumber('crl-warn-days', 'days'), describe: 'Days before the CRL\'s next update that count as a problem' })
        .option('crit-days', { type: 'string', default: '14', coerce: wholeNumber('crit-days', 'days'), describe: 'With --nagios: days before expiry that are CRITICAL (--warn-days: WARNING)' })
        .option('format', { choices: ['text', 'prometheus'] as const, default: 'text' as const, describe: 'prometheus: metrics for the node_exporter textfile collector' })
        .option('output', { alias: 'o', type: 'string', describe: 'With --format prometheus: write this file atomically (temp file in its directory, then rename)' })
        .option('nagios', { type: 'boolean', default: false, describe: 'Nagios/Icinga plugin: one status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN' })
        .example('$0 status --json', 'the same as data')
        .example('$0 status --check --warn-days 21 -q', 'from cron or a monitoring system: silent and exit 0 when all is well')
        .example('$0 status --format prometheus -o /var/lib/prometheus/node-exporter/postfix-tls-relay.prom', 'metrics for the textfile collector')
        .example('$0 status --nagios --warn-days 30 --crit-days 14', 'a Nagios/Icinga check'),
    async (a) => {
      const m = await import('../commands/status-monitoring.js');
      const args = a as unknown as import('../commands/status-monitoring.js').MonitoringArgs;
      return set(m.wantsMonitoring(args) ? m.statusMonitoring(args) : (await import('../commands/status.js')).status(args));
    })
    .command('renew [hosts..]', 'Renew certificates expiring soon (same key: the relay needs no change); --rekey with an overlap window; --ca', (y) =>
      y.epilog(EPILOG).positional('hosts', { type: 'string', array: true, default: [], describe: 'Hosts to renew (fqdn or host name); default: those expiring within --within days' })
        .option('within', { type: 'string', default: '30', coerce: wholeNumber('within', 'days'), describe: 'Renew what expires within this many days (without host names)' })
        .option('all', { type: 'boolean', default: false, describe: 'Renew every certificate that is not revoked' })
        .option('rekey', { type: 'boolean', default: false, describe: 'New keys; the relay lists old and new until renew --finish' })
        .option('finish', { type: 'boolean', default: false, describe: 'End the rotation of the named clients: drop their old allowlist entry' })
        .option('ca', { type: 'boolean', default: false, describe: 'Re-sign the CA certificate with its key (issued certificates stay valid)' })
        .option('deploy', { type: 'boolean', default: false, describe: 'Then deploy the hosts whose files changed, under the same lock; quiet unless something fails (for timers and cron)' })
        .option('ssh-option', { type: 'string', array: true, describe: 'With --deploy: pass -o KEY=VALUE to every ssh and rsync call (repeatable)' })
        .example('$0 renew --deploy --within 30', 'unattended, from a systemd timer or cron: renew what expires within 30 days and ship it')
        .example('$0 renew', 'renew what expires within 30 days')
        .example('$0 renew mailhost --rekey', 'new key for mailhost; the relay accepts old and new')
        .example('$0 renew --finish mailhost', 'mailhost runs with its new key: drop the old one from the relay')
        .example('$0 renew --ca', 'extend the CA certificate'),
    async (a) => set((await import('../commands/renew.js')).renew(a as unknown as import('../commands/renew.js').RenewArgs)))
    .command('revoke <host>', 'Take a client off the relay\'s allowlist, revoke its certificate and regenerate the CRL', (y) =>
      y.epilog(EPILOG).positional('host', { type: 'string', demandOption: true, describe: 'Host to revoke (fqdn or host name)' })
        .option('reason', { choices: REVOKE_REASONS, describe: 'CRL reason code' })
        .example('$0 revoke oldhost --reason keyCompromise', 'refuse oldhost at the relay once its bundle is deployed'),
    async (a) => set((await import('../commands/revoke.js')).revoke(a as unknown as import('../commands/revoke.js').RevokeArgs)))
    .command('crl', 'Regenerate the CRL from the CA database (it is valid for crl_days)', (y) =>
      y.epilog(EPILOG).example('$0 crl -q', 'from cron, before the CRL expires'),
    async (a) => set((await import('../commands/crl.js')).crl(a as unknown as GlobalArgs)))
    .command('add-client <host>', 'Add an smtp client to smtp_client_hostnames in settings.mk (in place) and build it', (y) =>
      y.epilog(EPILOG).positional('host', { type: 'string', demandOption: true, describe: 'Host name (completed with domain) or fqdn' })
        .example('$0 add-client backup-mailhost', 'its key, certificate and bundle; the relay lists it'),
    async (a) => set((await import('../commands/add-client.js')).addClient(a as unknown as import('../commands/add-client.js').AddClientArgs)))
    .command('deploy [which] [hosts..]', 'Copy each host\'s bundle with rsync and run its apply script over ssh (the relay first)', (y) =>
      sudoPass(sshOption(y.epilog(EPILOG).positional('which', { choices: ['client', 'server', 'all'] as const, default: 'all' as const, describe: 'Which hosts' })
        .positional('hosts', { type: 'string', array: true, default: [], describe: 'Only these hosts of the selection (fqdn or host name)' })))
        .example('$0 deploy client mailhost', 'only mailhost, e.g. after renew mailhost')
        .example('$0 deploy -C ~/relay-ca', 'the relay, then every client; a second run says "unchanged"')
        .example('$0 deploy server -n --ssh-option IdentityFile=~/.ssh/relay_ed25519', 'show the exact rsync and ssh commands, run nothing'),
    async (a) => set((await import('../commands/deploy.js')).deploy(a as unknown as import('../commands/deploy.js').DeployArgs)))
    .command('undeploy <hosts..>', 'Take hosts off: put back what each had before the first deploy (recorded by apply.sh), remove the tool\'s files and service, reload Postfix', (y) =>
      sudoPass(sshOption(y.epilog(EPILOG).positional('hosts', { type: 'string', array: true, demandOption: true, describe: 'Hosts to take off (fqdn or host name)' })))
        .example('$0 undeploy oldhost', 'after revoke oldhost, or when oldhost is retired')
        .example('$0 undeploy relay2 -n', 'show the exact ssh commands, run nothing'),
    async (a) => set((await import('../commands/undeploy.js')).undeploy(a as unknown as import('../commands/undeploy.js').UndeployArgs)))
    .command('check [which] [hosts..]', 'Compare each host\'s Postfix settings and deployed files with this project over ssh; OK/FAIL per item', (y) =>
      sudoPass(sshOption(y.epilog(EPILOG).positional('which', { choices: ['client', 'server', 'all'] as const, default: 'all' as const, describe: 'Which hosts' })
        .positional('hosts', { type: 'string', array: true, default: [], describe: 'Only these hosts of the selection (fqdn or host name), as deploy takes them' }))
        .option('live', { type: 'boolean', default: false, describe: 'Also probe the relay with STARTTLS from each client host, using its certificate, and compare the certificates on the wire; probe outbound port 25 (banner, EHLO, QUIT) from every host checked' })
        .option('nagios', { type: 'boolean', default: false, describe: 'Nagios/Icinga plugin: one status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN' })
        .option('warn-days', { type: 'string', default: '30', coerce: wholeNumber('warn-days', 'days'), describe: 'With --nagios: deployed certificates expiring within this many days are WARNING' })
        .option('crit-days', { type: 'string', default: '14', coerce: wholeNumber('crit-days', 'days'), describe: 'With --nagios: … within this many days are CRITICAL' })
        .example('$0 check --live --nagios', 'an Icinga/Nagios service check of the hosts'))
        .example('$0 check --live', 'every setting and file, and a live TLS handshake client → relay; exit 1 on any FAIL')
        .example('$0 check server --json', 'the relay\'s checks as data')
        .example('$0 check client mailhost --live', 'only mailhost, with its live probe of each relay'),
    async (a) => set((await import('../commands/check.js')).check(a as unknown as import('../commands/check.js').CheckArgs)))
    .command('dns', 'What receivers check of each relay (addresses, NAT, PTR resolving back, HELO) and the SPF record each sender domain must publish', (y) =>
      sshOption(y.epilog(EPILOG).option('check', { type: 'boolean', default: false, describe: 'Evaluate each as receivers do (SPF by RFC 7208); exit 1 with one line per problem' })
        .option('resolver', { type: 'string', describe: 'Ask this DNS server (an IP address) instead of the system resolver' })
        .option('ssh', { type: 'boolean', default: true, describe: 'Ask each relay over ssh for its HELO name and own addresses (--no-ssh: DNS only)' })
        .option('nagios', { type: 'boolean', default: false, describe: 'Nagios/Icinga plugin: CRITICAL on a failed check, UNKNOWN (3) when a check could not be made' })
        .option('format', { choices: ['text', 'prometheus'] as const, default: 'text' as const, describe: 'prometheus: one series per check, domain, relay and address' }))
        .example('$0 dns', 'each relay\'s PTR, HELO and the SPF record to publish')
        .example('$0 dns --check --resolver 192.0.2.53', 'from cron: exit 1 and one line per problem'),
    async (a) => set((await import('../commands/dns.js')).dns(a as unknown as import('../commands/dns.js').DnsArgs)))
    .command('export <format> <directory>', 'Write an Ansible inventory and playbook that deploy the bundles to many hosts (relays first, in batches)', (y) =>
      y.epilog(EPILOG).positional('format', { choices: ['ansible'] as const, describe: 'What to write' })
        .positional('directory', { type: 'string', demandOption: true, describe: 'Where to write inventory.yml, playbook.yml, ansible.cfg' })
        .example('$0 export ansible fleet && cd fleet && ansible-playbook playbook.yml', 'deploy hundreds of hosts with Ansible')
        .example('ansible-playbook playbook.yml -e ptr_batch=50', 'fifty hosts at a time'),
    async (a) => set((await import('../commands/export.js')).exportFleet(a as unknown as import('../commands/export.js').ExportArgs)))
    .command('clean', 'Move generated files to archive/clean-<time>/ (the CA key is kept there, never deleted)', (y) =>
      y.epilog(EPILOG).example('$0 clean -n', 'show what would be moved'),
    async (a) => set((await import('../commands/clean.js')).clean(a as unknown as GlobalArgs)))
    .command('init', 'Create settings.mk for a new setup and a random CA passphrase, GnuPG-encrypted from memory', (y) =>
      y.epilog(EPILOG).option('domain', { type: 'string', describe: 'Mail domain, e.g. example.org' })
        .option('relay', { type: 'string', describe: 'Relay (smtpd server) host name or fqdn' })
        .option('port', { type: 'string', describe: 'Port of the relay service (default 2500)' })
        .option('client', { type: 'string', array: true, describe: 'Client (internal mail host) name or fqdn; repeatable' })
        .option('gpg-recipient', { type: 'string', describe: 'GnuPG key (fingerprint or e-mail) that encrypts the CA passphrase (default: your only secret key)' })
        .option('passphrase-file', { type: 'string', describe: 'Where the encrypted passphrase goes (default: <dir>/ca-passphrase.gpg)' })
        .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask: take the flags and defaults' })
        .option('force', { type: 'boolean', default: false, describe: 'Replace an existing settings file or passphrase file (never one that a CA key depends on)' })
        .option('keep-passphrase', { type: 'boolean', default: false, describe: 'Keep the existing passphrase file (e.g. to rewrite settings.mk for an existing CA)' })
        .example('$0 init -C ~/relay-ca', 'ask for everything on the terminal')
        .example('$0 init --domain example.org --relay relayhost --client mailhost --gpg-recipient admin@example.org -y', 'the same in a script'),
    async (a) => set((await import('../commands/init.js')).init(a as unknown as InitArgs)))
    .command('demo [directory]', 'Build a complete example project (CA, relay, two clients) with a throwaway GnuPG home', (y) =>
      y.epilog(EPILOG).positional('directory', { type: 'string', default: 'demo', describe: 'Where to build it' })
        .example('$0 demo', 'build ./demo; run again and nothing is done'),
    async (a) => set((await import('../commands/demo.js')).demo(a as unknown as GlobalArgs & { directory: string })))
    .command('completion', 'Print a bash or zsh completion script (chosen by $SHELL) for commands and options', (y) =>
      y.epilog(EPILOG).example('$0 completion >> ~/.bashrc', 'complete commands and options in bash')
        .example('SHELL=zsh $0 completion >> ~/.zshrc', 'the same for zsh'),
    () => {
      // yargs 18 takes ($0, command); its older typings do not.
      (parser as unknown as { showCompletionScript($0: string, cmd: string): void }).showCompletionScript('postfix-tls-relay', 'completion');
    })
    // Answers the script's --get-yargs-completions queries; a hidden name, since `completion` above is documented.
    .completion('__completion', false)
    .epilog(EPILOG)
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version(false)
    // Answered by main() before yargs; listed here for --help.
    .option('version', { alias: 'V', type: 'boolean', describe: 'Print "postfix-tls-relay <version>" and exit' })
    .wrap(Math.min(120, process.stdout.columns || 100))
    .fail((msg, err) => {
      // yargs wraps what an option's coerce throws (a UsageError) in its own YError: still bad usage.
      if (err?.name === 'YError') throw new UsageError(err.message);
      throw err ?? new UsageError(`${msg}; see postfix-tls-relay --help`);
    });
  await parser.parseAsync();
  return code;
}
