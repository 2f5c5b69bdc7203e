// `init`: a settings.mk for a new setup and a random CA passphrase, encrypted with gpg straight from
// memory (lib/secrets/passphrase-file.ts). Asks on a terminal; takes the same answers as flags in scripts. Never replaces a file unasked.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { gpgListKeys } from '../programs/gpg.js';
import { makeReporter, type GlobalArgs } from '../cli/context.js';
import { fsFailure, UsageError } from '../errors.js';
import { checkProjectOwnership } from '../files/ownership.js';
import { shownPath as shown } from '../files/layout.js';
import { withLock } from '../runner/lock.js';
import { caKeysIn, keyOpenedBy } from '../secrets/passphrase-guard.js';
import { run } from '../programs/exec.js';
import { createPassphraseFile, encryptCommand } from '../secrets/passphrase-file.js';
import { Prompter } from '../cli/prompt.js';
import { loadSettings } from '../settings/index.js';
import { initialSettingsText, splitHost, type InitAnswers } from '../settings/initial.js';
import * as v from '../settings/validate.js';
import { shJoin } from '../programs/shell.js';

export const DEFAULT_PASSPHRASE_FILE = 'ca-passphrase.gpg';
export const DEFAULT_PORT = 2500;

export interface InitArgs extends GlobalArgs {
  domain?: string;
  relay?: string;
  client?: string[];
  port?: string;
  gpgRecipient?: string;
  passphraseFile?: string;
  yes: boolean;
  force: boolean;
  keepPassphrase: boolean;
}

const words = (list: readonly string[]) => list.flatMap((c) => c.split(/[\s,]+/)).filter(Boolean);

function checkClients(list: readonly string[], domain: string, relay: string): string | undefined {
  if (list.length === 0) return 'is empty; name at least one internal mail host';
  const fq = (n: string) => {
    const h = splitHost(n, domain);
    return h.fqdn ?? `${h.hostname}.${domain.toLowerCase()}`;
  };
  const seen = new Set([fq(relay)]);
  for (const c of list) {
    const e = v.checkHostnameOrFqdn(c);
    if (e) return e;
    if (seen.has(fq(c))) return `names ${fq(c)} twice (clients and the relay need distinct names)`;
    seen.add(fq(c));
  }
  return undefined;
}

/** The secret keys gpg has: the recipient to offer when there is exactly one. */
async function secretKeys(): Promise<{ fpr: string; uid: string }[]> {
  const r = await run(gpgListKeys({ secret: true }));
  if (r.exitCode !== 0) return [];
  const keys: { fpr: string; uid: string }[] = [];
  let inSec = false;
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === 'sec') {
      inSec = true;
      keys.push({ fpr: '', uid: '' });
    } else if (f[0] === 'ssb') inSec = false;
    const k = keys[keys.length - 1];
    if (!k) continue;
    if (f[0] === 'fpr' && inSec && !k.fpr) k.fpr = f[9] ?? '';
    if (f[0] === 'uid' && !k.uid) k.uid = (f[9] ?? '').replace(/\\x3a/g, ':');
  }
  return keys.filter((k) => k.fpr);
}

async function checkRecipient(r: string): Promise<string | undefined> {
  if (r === '' || /[\x00-\x1f\x7f]/.test(r)) return 'is empty; name a GnuPG key (fingerprint or e-mail) whose secret key you hold';
  const res = await run(gpgListKeys({ secret: false, name: r }));
  if (res.exitCode !== 0) return `"${v.printable(r)}": gpg has no public key for it; import it (gpg --import) or pick one from gpg --list-secret-keys`;
  return undefined;
}

/**
 * Refuses to replace a passphrase file that a CA key depends on: the current CA key always (it is
 * encrypted with it), an archived one when the passphrase opens it (clean keeps the old CA restorable).
 */
async function checkReplaceable(projectDir: string, passFile: string): Promise<void> {
  const keys = caKeysIn(projectDir);
  const current = keys.current[0];
  if (current) {
    throw new UsageError(`${shown(passFile)}: ${shown(current)} is encrypted with the passphrase in it, so it is never replaced; pass --keep-passphrase`);
  }
  const archived = await keyOpenedBy(passFile, keys.archived);
  if (archived) {
    const run = path.relative(projectDir, archived).split(path.sep).slice(0, 2).join('/');
    throw new UsageError(`${shown(passFile)}: it opens the CA key kept in ${shown(archived)}, which would be lost; pass --keep-passphrase, or --passphrase-file NEW for a new CA (or move ${run} out of the project first)`);
  }
}

export async function init(args: InitArgs): Promise<number> {
  const report = makeReporter(args);
  const projectDir = path.resolve(args.dir);
  const settingsFile = path.resolve(args.settings ?? path.join(projectDir, 'settings.mk'));
  const passFile = path.resolve(args.passphraseFile ?? path.join(projectDir, DEFAULT_PASSPHRASE_FILE));

  // Refuse before asking anything.
  checkProjectOwnership(projectDir, settingsFile);
  if (existsSync(settingsFile) && !args.force) {
    throw new UsageError(`${shown(settingsFile)}: already exists; pass --force to replace it, or -f FILE to write another file`);
  }
  const keep = args.keepPassphrase;
  if (keep && !existsSync(passFile)) {
    throw new UsageError(`--keep-passphrase: ${shown(passFile)} does not exist; leave --keep-passphrase out to create it`);
  }
  if (!keep && existsSync(passFile)) {
    if (!args.force) {
      throw new UsageError(`${shown(passFile)}: already exists; pass --keep-passphrase to use it as it is, or --force to replace it`);
    }
    await checkReplaceable(projectDir, passFile);
  }

  // As it goes into settings.mk: relative to the project when inside it (as build resolves it).
  const rel = path.relative(projectDir, passFile);
  const passSetting = rel.startsWith('..') || path.isAbsolute(rel) ? passFile : rel;
  const pathError = v.checkLocalPath(passSetting) ?? (/^\s|\s$|\\$/.test(passSetting) ? 'starts or ends with a space, or ends with a backslash; choose a plainer path' : undefined);
  if (pathError) throw new UsageError(`--passphrase-file ${pathError}`);

  const interactive = !args.yes && Boolean(process.stdin.isTTY) && Boolean(process.stderr.isTTY);
  const prompter = interactive ? new Prompter() : undefined;
  try {
    /** A flag's value (checked), else the answer to a question, else the default, else exit 2 naming the flag. */
    const value = async (flag: string, given: string | undefined, question: string, check: (x: string) => string | undefined | Promise<string | undefined>, dflt?: string) => {
      if (given !== undefined) {
        const e = await check(given);
        if (e) throw new UsageError(`--${flag} ${e}`);
        return given;
      }
      if (prompter) return prompter.ask({ text: question, default: dflt, check });
      if (dflt !== undefined) return dflt;
      throw new UsageError(`--${flag} is required${args.yes ? '' : ' (not a terminal, so init cannot ask)'}; see postfix-tls-relay init --help`);
    };

    const domain = (await value('domain', args.domain, 'Mail domain (e.g. example.org)', v.checkFqdnOrLabel)).toLowerCase();
    const relay = await value('relay', args.relay, `Relay host name (the smtpd server; a name in ${domain} or an fqdn)`, v.checkHostnameOrFqdn);
    const port = Number(await value('port', args.port, 'Relay port (a spare port for the relay service)', v.checkPort, String(DEFAULT_PORT)));
    const clientsGiven = args.client && args.client.length ? words(args.client) : undefined;
    const clientCheck = (x: string) => checkClients(words([x]), domain, relay);
    const clients = words([await value('client', clientsGiven?.join(' '), 'Client host names (the internal mail hosts, space-separated)', clientCheck)]);

    let recipient: string | undefined;
    if (!keep) {
      const keys = await secretKeys();
      if (prompter && keys.length) {
        report.info(`Secret keys in your GnuPG keyring:\n${keys.map((k) => `  ${k.fpr}  ${k.uid}`).join('\n')}`);
      }
      const only = keys.length === 1 ? keys[0]!.fpr : undefined;
      recipient = await value('gpg-recipient', args.gpgRecipient, 'GnuPG key to encrypt the CA passphrase to (fingerprint or e-mail)', checkRecipient, only);
      const mine = await run(gpgListKeys({ secret: true, name: recipient }));
      if (mine.exitCode !== 0) {
        report.warn(`--gpg-recipient ${recipient}: no secret key for it in this keyring; build can only decrypt the passphrase where that secret key is`);
      }
    }

    const answers: InitAnswers = { domain, relay, port, clients, passphraseFile: passSetting, recipient };
    const text = initialSettingsText(answers);
    // The file must load as it will be read by build: a failure here is a bug, not the user's input.
    const settings = loadSettings({ projectDir, text: { content: text, name: shown(settingsFile) } });

    const encrypt = recipient === undefined ? undefined : encryptCommand(passFile, recipient, process.cwd());
    if (args.dryRun) {
      report.info(`would write ${shown(settingsFile)} and ${encrypt ? `${shown(passFile)} with:\n  ${shJoin(encrypt)}  # stdin: a new random CA passphrase, from memory` : `keep ${shown(passFile)}`}`);
      report.result({ settingsFile, passphraseFile: passFile, recipient: recipient ?? null, dryRun: true, settings: text }, () => text);
      return 0;
    }
    if (prompter) {
      report.info(
        `\nRelay ${settings.server.fqdn} port ${port}; clients ${settings.clients.map((c) => c.fqdn).join(', ')}.\n` +
          `Will write ${shown(settingsFile)}${recipient ? ` and ${shown(passFile)} (a new CA passphrase for ${recipient})` : ''}.`,
      );
      if (!(await prompter.confirm('Write these files?'))) {
        report.info('nothing was written');
        return 1;
      }
    }

    mkdirSync(projectDir, { recursive: true, mode: 0o700 });
    checkProjectOwnership(projectDir, settingsFile);
    // Under the project lock, and checked again: a build that started meanwhile may have made a CA key.
    await withLock(projectDir, {}, async () => {
      if (recipient !== undefined && existsSync(passFile)) await checkReplaceable(projectDir, passFile);
      if (recipient !== undefined) {
        await createPassphraseFile(passFile, recipient, { cwd: process.cwd(), info: (l) => report.info(l) });
        report.info(`wrote ${shown(passFile)} (a new random CA passphrase, GnuPG-encrypted to ${recipient})`);
      }
      try {
        writeFileAtomic(settingsFile, text, 0o644);
      } catch (err) {
        throw fsFailure(err, shown(settingsFile));
      }
    });
    report.info(`wrote ${shown(settingsFile)}`);
    const dirArg = path.relative(process.cwd(), projectDir) ? ` -C ${shJoin([shown(projectDir)])}` : '';
    report.result(
      { settingsFile, passphraseFile: passFile, recipient: recipient ?? null, passphrase: recipient ? 'new' : 'kept', relay: settings.server.fqdn, clients: settings.clients.map((c) => c.fqdn) },
      () => `next: postfix-tls-relay build${dirArg}, then postfix-tls-relay instructions${dirArg}`,
    );
    return 0;
  } finally {
    prompter?.close();
  }
}
