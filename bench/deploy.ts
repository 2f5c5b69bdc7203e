// `npm run bench:deploy`: deploy time over 1, 4 and 16 hosts of the multi-host lab (stock Debian hosts in
// their own namespaces, reached over ssh), with --jobs 1 and --jobs 4. Each timed run changes the log
// level of every host (--set), so every host gets a new bundle, apply.sh changes and Postfix reloads: the
// cost of rolling a change out. A second, no-op run of each is timed too. Needs root (namespaces).
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { createHostsLab, type HostsLab } from '../test/support/hosts/lab.js';
import { hostsLabPrerequisites } from '../test/support/prereq.js';
import { median } from './harness.js';

const HELP = `Usage: npm run bench:deploy -- [--runs N] [--json]

Builds a lab of 16 hosts (1 relay, 15 clients), then times "deploy" of 1, 4 and 16 of them with
--jobs 1 and --jobs 4: a change rolled out to every host (new log level: files, apply.sh, reload) and a
run with nothing to do. Medians of N runs (default 3). Takes a few minutes; needs root.
`;

interface Result {
  hosts: number;
  jobs: number;
  change: { medianS: number; runsS: number[] };
  noop: { medianS: number; runsS: number[] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const runs = Number(values.runs ?? 3);
  const pre = hostsLabPrerequisites();
  if (!pre.ok) throw new Error(`bench:deploy needs ${pre.missing.join(', ')}`);
  const clients = Array.from({ length: 15 }, (_, i) => `c${String(i + 1).padStart(2, '0')}`);
  process.stderr.write('starting a lab of 16 hosts …\n');
  const lab: HostsLab = await createHostsLab({ domain: 'example.test', relays: ['relay1'], clients });
  try {
    const cli = async (args: string[]) => {
      const t0 = performance.now();
      const r = await lab.ws.cli(args);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      return (performance.now() - t0) / 1000;
    };
    await cli(['init', '--domain', lab.domain, '--relay', 'relay1', '--port', '2500', ...clients.flatMap((c) => ['--client', c]), '--gpg-recipient', lab.ws.recipient, '--yes']);
    fs.appendFileSync(path.join(lab.ws.projectDir, 'settings.mk'), 'smtp_client_tls_loglevel := 1\nsmtpd_server_tls_loglevel := 1\n');
    await cli(['build', '-q']);
    await cli(['deploy', '-q']);
    let level = 1;
    const results: Result[] = [];
    for (const n of [1, 4, 16]) {
      // The relay and the first n-1 clients; `deploy all HOST…` narrows the selection.
      const names = ['relay1', ...clients.slice(0, n - 1)];
      for (const jobs of [1, 4]) {
        const change: number[] = [];
        const noop: number[] = [];
        for (let i = 0; i < runs; i++) {
          level = level === 1 ? 2 : 1;
          const set = ['--set', `smtp_client_tls_loglevel=${level}`, '--set', `smtpd_server_tls_loglevel=${level}`];
          await cli(['build', '-q', ...set]);
          change.push(await cli(['deploy', 'all', ...names, '--jobs', String(jobs), '-q', ...set]));
          noop.push(await cli(['deploy', 'all', ...names, '--jobs', String(jobs), '-q', ...set]));
        }
        results.push({ hosts: n, jobs, change: { medianS: median(change), runsS: change }, noop: { medianS: median(noop), runsS: noop } });
        process.stderr.write(`${n} host(s), --jobs ${jobs}: change ${median(change).toFixed(2)} s, no-op ${median(noop).toFixed(2)} s\n`);
      }
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ runs, results }, null, 2)}\n`);
      return;
    }
    const rows = [['hosts', '--jobs', 'change rolled out (median)', 'nothing to do (median)'],
      ...results.map((r) => [String(r.hosts), String(r.jobs), `${r.change.medianS.toFixed(2)} s`, `${r.noop.medianS.toFixed(2)} s`])];
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    process.stdout.write(`${rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n')}\n(${runs} runs each)\n`);
  } finally {
    await lab.teardown();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:deploy: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
