// The add-client service (`add-client`): one more smtp client. Appends it to smtp_client_hostnames in settings.mk (in place,
// comments and layout kept, written atomically), then builds: its key, certificate and bundle, and the
// relay's allowlist. No other client's files change.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import type { Context, GlobalArgs } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { bundleDir, findHost, hostFiles } from '../files/layout.js';
import { appendToList } from '../settings/edit.js';
import { loadSettings } from '../settings/index.js';
import { checkFqdn, checkHostname } from '../settings/validate.js';
import { withSession } from '../runner/session.js';
import { readProjectState } from '../state/project.js';
import { allowlistMark, buildInSession, buildResult, relayChanged as relayChangedSince } from './build.js';
import { renew } from './renewal.js';

export interface AddClientArgs extends GlobalArgs {
  host: string;
}

export async function addClient(ctx: Context, args: AddClientArgs): Promise<number> {
  const s = ctx.settings;
  const name = args.host.toLowerCase().replace(/\.$/, '');
  const err = name.includes('.') ? checkFqdn(name) : checkHostname(name);
  if (err) throw new UsageError(`add-client: ${args.host} ${err.startsWith('is ') ? err : `= ${err}`}`);
  const existing = findHost(s, name);
  if (existing?.role === 'server') throw new UsageError(`add-client: ${existing.fqdn} is the relay (smtpd_server_fqdn); a client needs its own name`);
  if (existing) {
    if (readProjectState(s).isRevoked(hostFiles(existing).cert)) {
      ctx.report.info(`${existing.fqdn} is already a client, revoked: issuing it again with a new key`);
      return renew(ctx, { ...args, hosts: [existing.fqdn], within: 0, all: false, rekey: true, ca: false, finish: false });
    }
    ctx.report.info(`${existing.fqdn} is already a client; nothing to add`);
  }
  if (s.file === undefined) throw new UsageError('add-client: there is no settings file to edit; name it with -f FILE');

  const file = s.file;
  const shown = path.relative(process.cwd(), file) || file;
  let line = 0;
  if (!existing) {
    const text = readFileSync(file, 'utf8');
    const edit = appendToList(text, shown, 'smtp_client_hostnames', name, 'smtp_client_hostname');
    line = edit.line;
    // Check the edited file means what we want before it replaces the original.
    const next = loadSettings({ projectDir: ctx.projectDir, settingsFile: file, overrides: args.set ?? [], text: { content: edit.text, name: shown } });
    const fqdn = findHost(next, name)?.fqdn;
    if (!fqdn || !next.clients.some((c) => c.fqdn === fqdn)) {
      throw new UsageError(`add-client: adding ${name} to smtp_client_hostnames in ${shown} would not make it a client (is smtp_client_hostnames overridden with --set or computed?); add it by hand`);
    }
    if (args.dryRun) {
      const lines = edit.text.split('\n');
      ctx.report.result({ settingsFile: file, line, text: lines[line - 1], created: edit.created }, () => `would ${edit.created ? 'add' : 'change'} ${shown}:${line}: ${lines[line - 1]}\nthen build ${fqdn}'s key, certificate and bundle and the relay's allowlist`);
      return 0;
    }
    writeFileAtomic(file, edit.text, statSync(file).mode & 0o777);
    ctx.report.info(`${shown}:${line}: ${edit.text.split('\n')[line - 1]}`);
  } else if (args.dryRun) {
    return 0;
  }

  // The settings as written (their warnings were shown already).
  const ctx2 = { ...ctx, settings: loadSettings({ projectDir: ctx.projectDir, settingsFile: file, overrides: args.set ?? [] }) };
  const host = findHost(ctx2.settings, name)!;
  return withSession(ctx2, async (session) => {
    const allowlistBefore = allowlistMark(session);
    const result = await buildInSession(ctx2, session);
    ctx2.report.summary(result);
    const relay = ctx2.settings.server;
    const relayChanged = relayChangedSince(session, allowlistBefore);
    ctx2.report.result({ added: existing ? null : host.fqdn, settingsFile: file, line: line || null, relayChanged, deploy: relayChanged ? [relay.fqdn, host.fqdn] : [host.fqdn], build: buildResult(ctx2, session, result) }, () =>
      existing
        ? ''
        : `added ${host.fqdn}: key, certificate and bundle ${bundleDir(host)}/; the relay's allowlist lists it.\nDeploy ${bundleDir(relay)}/ to ${relay.fqdn}, then ${bundleDir(host)}/ to ${host.fqdn}.`);
    return 0;
  });
}
