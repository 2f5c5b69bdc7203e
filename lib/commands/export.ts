// `export ansible DIR`: an inventory and a playbook that deploy the bundles of out/ to a fleet with Ansible.
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { ansibleExport } from '../export/ansible.js';
import { writeFileAtomic } from '../files/atomic.js';
import { assertKeysBound } from '../services/bundles.js';

export interface ExportArgs extends GlobalArgs {
  format: 'ansible';
  directory: string;
}

export async function exportFleet(args: ExportArgs): Promise<number> {
  const ctx = loadContext(args);
  const dir = path.resolve(args.directory);
  assertKeysBound(ctx.settings);
  const files = ansibleExport(ctx.settings);
  const shown = (f: string) => path.relative(process.cwd(), path.join(dir, f)) || f;
  if (!args.dryRun) {
    mkdirSync(dir, { recursive: true });
    for (const f of files) writeFileAtomic(path.join(dir, f.name), f.text, f.mode);
  }
  ctx.report.result({ dryRun: args.dryRun, directory: dir, files: files.map((f) => shown(f.name)), relays: ctx.settings.servers.map((r) => r.fqdn), clients: ctx.settings.clients.map((c) => c.fqdn) }, () =>
    [
      `${args.dryRun ? 'would write' : 'wrote'} ${files.map((f) => shown(f.name)).join(', ')}`,
      `Run: cd ${path.relative(process.cwd(), dir) || '.'} && ansible-playbook playbook.yml   (relays first, then clients, in batches: -e ptr_batch=N)`,
      'It copies the bundles from out/ as they are at run time: after postfix-tls-relay build, run it again; export again only when hosts change.',
    ].join('\n'));
  return 0;
}
