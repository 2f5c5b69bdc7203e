// The add-client service (`add-client`): one more smtp client. Under the project lock, and only once
// everything checks out (the edited settings, the trust chain, the passphrase), appends it to
// smtp_client_hostnames in settings.mk (in place, comments and layout kept, written atomically to the
// file a symlink points to), then builds: its key, certificate and bundle, and the relay's allowlist.
// No other client's files change; when the build fails, settings.mk is put back as it was.
import { realpathSync, statSync } from 'node:fs';
import { readSettingsFile } from '../settings/file.js';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import type { Context, GlobalArgs } from '../cli/context.js';
import { fsFailure, UsageError } from '../errors.js';
import { bundleDir, findHost, hostFiles } from '../files/layout.js';
import { appendToList, type ListEdit } from '../settings/edit.js';
import { loadSettings, sourceText, type Settings } from '../settings/index.js';
import { checkFqdn, checkHostname } from '../settings/validate.js';
import { checkTrustChain } from '../ca/trust.js';
import { withSession } from '../runner/session.js';
import { readProjectState } from '../state/project.js';
import { allowlistMark, buildInSession, buildResult, relayChanged as relayChangedSince } from './build.js';
import { renew } from './renewal.js';
import { planKey } from '../plan/key.js';
import { addedClientsScope } from '../plan/scope.js';

export interface AddClientArgs extends GlobalArgs {
  host: string;
}

/** add-client runs in parallel in scripts: each waits its turn for the lock rather than failing. */
const LOCK_WAIT_MS = 10 * 60_000;

interface PlannedEdit {
  /** The settings as the file says now. */
  now: Settings;
  /** With `name` added; undefined when it is a client already. */
  change?: { edit: ListEdit; next: Settings; text: string };
}

/** settings.mk as it is now and with `name` added, checked to mean what we want. */
function planEdit(ctx: Context, file: string, shown: string, name: string): PlannedEdit {
  const text = readSettingsFile(file, shown);
  // As the settings file, not the symlink's target, names them (what a load from the file would say).
  const load = (content: string) => loadSettings({ projectDir: ctx.projectDir, settingsFile: ctx.settings.file, overrides: ctx.args.set ?? [], text: { content, name: shown } });
  // A fleet's settings take a while to read: the text already read is not read again.
  const now = sourceText(ctx.settings) === text ? ctx.settings : load(text);
  if (findHost(now, name)) return { now };
  const edit = appendToList(text, shown, 'smtp_client_hostnames', name, 'smtp_client_hostname');
  const next = load(edit.text);
  const fqdn = findHost(next, name)?.fqdn;
  if (!fqdn || !next.clients.some((c) => c.fqdn === fqdn)) {
    throw new UsageError(`add-client: adding ${name} to smtp_client_hostnames in ${shown} would not make it a client (is smtp_client_hostnames overridden with --set or computed?); add it by hand`);
  }
  return { now, change: { edit, next, text } };
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
  const shown = path.relative(process.cwd(), s.file) || s.file;
  // The file itself, not a symlink to it: replacing the link by a regular file would cut it off.
  const file = realpathSync(s.file);

  if (args.dryRun) {
    const planned = planEdit(ctx, file, shown, name).change;
    if (!planned) return 0;
    const { edit } = planned;
    const lines = edit.text.split('\n');
    const fqdn = findHost(planned.next, name)!.fqdn;
    ctx.report.result({ settingsFile: s.file, line: edit.line, text: lines[edit.line - 1], created: edit.created }, () => `would ${edit.created ? 'add' : 'change'} ${shown}:${edit.line}: ${lines[edit.line - 1]}\nthen build ${fqdn}'s key, certificate and bundle and the relay's allowlist`);
    return 0;
  }

  return withSession(ctx, async (session) => {
    // Read again under the lock: another add-client may have edited it meanwhile.
    const { now, change: planned } = planEdit(ctx, file, shown, name);
    // What the build reads: the file as it is, or as this run writes it (the text `next` was read from).
    const settings = planned?.next ?? now;
    // Left up to date by the last run, with the settings as they were: only the new client's steps, the
    // CA's, the allowlist and the relays' can be stale (plan/scope.ts). Asked before anything is written.
    const scope = planned && session.state.upToDate(planKey(now)) ? addedClientsScope(now, planned.next) : undefined;
    let restore: (() => void) | undefined;
    if (planned) {
      // Everything that can fail on this project fails before settings.mk changes.
      checkTrustChain(settings, session.state, { adopting: session.state.isForeignTree() });
      session.state.bindKeys({ settings });
      await session.passphrase.get();
      const mode = statSync(file).mode & 0o777;
      const write = (text: string) => {
        try {
          writeFileAtomic(file, text, mode);
        } catch (e) {
          throw fsFailure(e, shown);
        }
      };
      write(planned.edit.text);
      restore = () => write(planned.text);
      ctx.report.info(`${shown}:${planned.edit.line}: ${planned.edit.text.split('\n')[planned.edit.line - 1]}`);
    }
    const allowlistBefore = allowlistMark(session);
    const ctx2 = { ...ctx, settings };
    let result;
    try {
      result = await buildInSession(ctx2, session, undefined, scope);
    } catch (e) {
      restore?.(); // the failure is the one line to show; settings.mk is as it was
      throw e;
    }
    const host = findHost(ctx2.settings, name)!;
    ctx2.report.summary(result);
    const relays = ctx2.settings.servers;
    const relayChanged = relayChangedSince(session, allowlistBefore);
    const added = planned !== undefined;
    ctx2.report.result({ added: added ? host.fqdn : null, settingsFile: s.file, line: planned?.edit.line ?? null, relayChanged, deploy: relayChanged ? [...relays.map((r) => r.fqdn), host.fqdn] : [host.fqdn], build: buildResult(ctx2, session, result) }, () =>
      added
        ? `added ${host.fqdn}: key, certificate and bundle ${bundleDir(host)}/; ${relays.length === 1 ? 'the relay\'s allowlist lists' : 'every relay\'s allowlist lists'} it.\nDeploy ${relays.map((r) => `${bundleDir(r)}/ to ${r.fqdn}`).join(', ')}, then ${bundleDir(host)}/ to ${host.fqdn} (postfix-tls-relay deploy does it in this order).`
        : '');
    return 0;
  }, { lockWaitMs: LOCK_WAIT_MS });
}
