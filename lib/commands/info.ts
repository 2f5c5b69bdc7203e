// `instructions` and `status`: read-only reports on the project.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { rsyncFiles, ssh as sshCommand } from '../programs/ssh.js';
import { bundleFiles } from '../remote/deploy.js';
import { shq } from '../programs/shell.js';
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { ALLOWLIST, allHosts, bundleDir, remoteFiles } from '../files/layout.js';
import { applyContext } from '../plan/plan.js';
import { clientConfig, relayConfig } from '../postfix/config.js';
import { renderEjs } from '../files/render.js';
import type { Host } from '../settings/index.js';
import { collectStatus, statusTable } from '../state/status.js';
import { integrityProblems } from '../state/check.js';

export async function instructions(args: GlobalArgs): Promise<void> {
  const ctx = loadContext(args);
  const s = ctx.settings;
  let allowlist: string[];
  try {
    allowlist = readFileSync(path.join(ctx.projectDir, ALLOWLIST), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  } catch {
    allowlist = ['(not built yet: run postfix-tls-relay build)'];
  }
  const hosts = allHosts(s).map((h) => ({
    ...(applyContext(s, h) as { files: { path: string; mode: string }[] }),
    role: h.role,
    fqdn: h.fqdn,
    postfixDir: h.postfixDir,
    bundle: path.relative(process.cwd(), path.join(ctx.projectDir, bundleDir(h))) || '.',
    sshTarget: `${h.ssh.user}@${h.ssh.host}`,
    // The same rsync `deploy` runs: only the bundle's files, parent directories such as /etc untouched.
    rsync: rsyncFiles({ root: path.relative(process.cwd(), path.join(ctx.projectDir, bundleDir(h), 'root')) || '.', files: bundleFiles(s, h), target: h.ssh, options: s.sshOptions }).display,
    ssh: sshCommand(h.ssh, s.sshOptions, `sh ${shq(remoteFiles(s, h).applyScript)}`).display,
    applyScript: remoteFiles(s, h).applyScript,
  }));
  const text = await renderEjs('instructions.ejs', {
    hosts,
    relay: relayConfig(s),
    client: (h: { fqdn: string }) => clientConfig(s, s.clients.find((c) => c.fqdn === h.fqdn) as Host),
    allowlist,
    domain: s.domain,
    serverFqdn: s.server.fqdn,
  });
  ctx.report.result({ hosts: hosts.map((h) => ({ fqdn: h.fqdn, role: h.role, bundle: h.bundle, files: h.files, applyScript: h.applyScript })), allowlist }, () => text);
}

export interface StatusArgs extends GlobalArgs {
  check?: boolean;
  warnDays?: number;
  crlWarnDays?: number;
}

/** The table (or --json); with --check, exit 1 when anything needs attention, for cron and monitoring. */
export async function status(args: StatusArgs): Promise<number> {
  const ctx = loadContext(args);
  const st = collectStatus(ctx.settings, Date.now(), { warnDays: args.warnDays, crlWarnDays: args.crlWarnDays });
  // --check also fails on every state in which build or deploy would refuse or make something else.
  if (args.check) st.problems = [...new Set([...st.problems, ...(await integrityProblems(ctx.settings))])];
  ctx.report.result(st, () => statusTable(st));
  if (!args.check || st.problems.length === 0) return 0;
  // The text table lists the problems already; -q and --json runs get them on stderr, one per line.
  if (args.quiet || args.json) for (const p of st.problems) ctx.report.error(p);
  else ctx.report.error(`status --check: ${st.problems.length} problem(s)`);
  return 1;
}
