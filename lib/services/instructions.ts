// `instructions`: per-host steps to install each bundle by hand, with the same rsync and ssh commands
// that deploy runs, from the bundle manifest.
import path from 'node:path';
import type { Context } from '../cli/context.js';
import { allHosts, remoteFiles } from '../files/layout.js';
import { renderEjs } from '../files/render.js';
import { applyContext, bundleManifest } from '../plan/bundle.js';
import { clientConfig } from '../postfix/config.js';
import { hostCommands } from '../remote/host-commands.js';
import type { Host } from '../settings/index.js';
import { readProjectState } from '../state/project.js';
import { dnsReport, type DnsOptions } from './dns.js';
import { dnsText } from './dns-output.js';

export interface Instructions {
  text: string;
  data: Record<string, unknown>;
}

/** dns: also ask DNS (and the relays) now and end each relay's steps with what `dns` prints. */
export async function instructions(ctx: Context, dns?: DnsOptions): Promise<Instructions> {
  const s = ctx.settings;
  const report = dns ? await dnsReport(s, ctx.projectDir, dns, ctx.report) : undefined;
  const listed = readProjectState(s).allowlist();
  const allowlist = listed ? listed.map((e) => e.line) : ['(not built yet: run postfix-tls-relay build)'];
  const rel = (p: string) => path.relative(process.cwd(), path.join(ctx.projectDir, p)) || '.';
  const hosts = allHosts(s).map((h) => {
    const m = bundleManifest(s, h);
    const cmds = hostCommands(s, h, s.sshOptions, 'nopasswd', rel(m.root));
    return {
      ...(applyContext(s, h) as { files: { path: string; mode: string }[]; relay: unknown }),
      role: h.role,
      fqdn: h.fqdn,
      postfixDir: h.postfixDir,
      bundle: rel(m.dir),
      sshTarget: `${h.ssh.user}@${h.ssh.host}`,
      // The same commands `deploy` runs: only the bundle's files, parent directories such as /etc untouched;
      // for a non-root ssh user the stage, then the install through sudo.
      rsync: [cmds.stage, cmds.rsync].filter((c) => c !== null).map((c) => c.display).join('\n     '),
      ssh: cmds.apply.display,
      sshUser: h.ssh.user,
      sudoers: cmds.sudoers,
      applyScript: remoteFiles(s, h).applyScript,
      record: remoteFiles(s, h).undoRecord,
      undeploy: cmds.undeploy.display,
    };
  });
  const text = await renderEjs('instructions.ejs', {
    hosts,
    relays: s.servers.map((r) => r.fqdn),
    client: (h: { fqdn: string }) => clientConfig(s, s.clients.find((c) => c.fqdn === h.fqdn) as Host),
    allowlist,
    domain: s.domain,
    senderDomains: s.senderDomains,
    dnsText: report ? dnsText(report) : '',
  });
  return { text, data: { hosts: hosts.map((h) => ({ fqdn: h.fqdn, role: h.role, bundle: h.bundle, files: h.files, applyScript: h.applyScript, sudoers: h.sudoers, undeploy: h.undeploy })), allowlist, ...(report ? { dns: report } : {}) } };
}
