// `npm run bench:deploy`: deploy and check against the floor and the peer, side by side in one run on
// the multi-host lab (stock Debian hosts in their own namespaces, reached over ssh by name; needs root).
// Each round times, one after the other so that the machine's load falls on all alike:
//   floor        `ssh root@H true` to every host in turn (one connection each, nothing done)
//   noop-j1/j4   `deploy --jobs 1` / `--jobs 4` with nothing to do
//   check        `check --live` (the hosts one after the other)
//   ansible      the exported playbook's run with nothing to do (`export ansible`, its changed=0 run)
//   change-j1/j4 `deploy` after a change on every host (both log levels toggled: new apply.sh and
//                main.cf settings on every host, so each host gets files, apply.sh changes and reloads)
// Reported: medians of N rounds, the 1-minute load average around each run, the CPU time the whole
// machine spent in each run (the lab's hosts share its CPUs: their sshd, shells and Postfix count too),
// and the ratios the targets are stated in (issue 23). A run that keeps every CPU busy cannot take less
// than its CPU time over the number of CPUs: that bound is printed next to the --jobs 4 ratios.
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHostsLab, type HostsLab } from '../test/support/hosts/lab.js';
import { WS_PROJECT } from '../test/support/hosts/workstation.js';
import { hostsLabPrerequisites } from '../test/support/prereq.js';
import { median } from './harness.js';

const HELP = `Usage: npm run bench:deploy -- [--runs N] [--clients N] [--no-ansible] [--json]

Builds a lab of 1 relay and N clients (default 15: 16 hosts), then, in each of --runs rounds (default 3):
the floor (ssh H true to every host in turn), deploy --jobs 1 and --jobs 4 with nothing to do,
check --live, the exported Ansible playbook with nothing to do, and deploy --jobs 1 and --jobs 4
after a change on every host. Prints medians, the load average, and the ratios of the targets.
Takes several minutes; needs root (network namespaces).
`;

const SUBJECTS = ['floor', 'noop-j1', 'noop-j4', 'check', 'ansible', 'change-j1', 'change-j4'] as const;
type SubjectName = (typeof SUBJECTS)[number];

interface Measured {
  s: number[];
  load: number[];
  /** CPU seconds the whole machine spent during the run (all CPUs, every process). */
  cpu: number[];
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: every field but idle and iowait). */
function machineCpuSeconds(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / 100; // USER_HZ
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, clients: { type: 'string' }, 'no-ansible': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const runs = Number(values.runs ?? 3);
  const nClients = Number(values.clients ?? 15);
  const withAnsible = !values['no-ansible'];
  const pre = hostsLabPrerequisites();
  if (!pre.ok) throw new Error(`bench:deploy needs ${pre.missing.join(', ')}`);
  const clients = Array.from({ length: nClients }, (_, i) => `c${String(i + 1).padStart(2, '0')}`);
  process.stderr.write(`starting a lab of ${nClients + 1} hosts …\n`);
  const loadAtStart = os.loadavg();
  const lab: HostsLab = await createHostsLab({ domain: 'example.test', relays: ['relay1'], clients });
  try {
    const settings = path.join(lab.ws.projectDir, 'settings.mk');
    const cli = async (args: string[]) => {
      const r = await lab.ws.cli(args);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r;
    };
    const timed = async (what: () => Promise<unknown>): Promise<{ s: number; load: number; cpu: number }> => {
      const l0 = os.loadavg()[0]!;
      const c0 = machineCpuSeconds();
      const t0 = performance.now();
      await what();
      const s = (performance.now() - t0) / 1000;
      return { s, load: (l0 + os.loadavg()[0]!) / 2, cpu: machineCpuSeconds() - c0 };
    };
    let level = 1;
    const setLevel = async (l: number) => {
      const text = fs.readFileSync(settings, 'utf8').replace(/^(smtp_client_tls_loglevel|smtpd_server_tls_loglevel) := \d$/gm, `$1 := ${l}`);
      fs.writeFileSync(settings, text);
      await cli(['build', '-q']);
    };

    await cli(['init', '--domain', lab.domain, '--relay', 'relay1', '--port', '2500', ...clients.flatMap((c) => ['--client', c]), '--gpg-recipient', lab.ws.recipient, '--yes']);
    fs.appendFileSync(settings, 'smtp_client_tls_loglevel := 1\nsmtpd_server_tls_loglevel := 1\n');
    await cli(['build', '-q']);
    await cli(['deploy', '-q']);
    const targets = [lab.relays[0]!, ...lab.clients].map((h) => h.fqdn);
    const floorScript = targets.map((h) => `ssh -o BatchMode=yes root@${h} true`).join(' && ');

    const playbook = async () => {
      const r = await lab.ws.keeper.run(['ansible-playbook', 'playbook.yml'], { cwd: `${WS_PROJECT}/fleet`, env: { ...lab.ws.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' }, check: false, timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`ansible-playbook: exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
      return r.stdout;
    };
    const changed = (out: string) => [...out.matchAll(/^\S+\s+: ok=\d+\s+changed=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    let ansibleChanged = 0;
    if (withAnsible) {
      await cli(['export', 'ansible', 'fleet']);
      // Its first run may find what deploy left slightly different (e.g. file times): settle it, untimed.
      await playbook();
    }

    const results = new Map<SubjectName, Measured>(SUBJECTS.map((n) => [n, { s: [], load: [], cpu: [] }]));
    const record = (n: SubjectName, m: { s: number; load: number; cpu: number }) => {
      results.get(n)!.s.push(m.s);
      results.get(n)!.load.push(m.load);
      results.get(n)!.cpu.push(m.cpu);
      process.stderr.write(`  ${n}: ${m.s.toFixed(2)} s (load ${m.load.toFixed(1)}, CPU ${m.cpu.toFixed(2)} s)\n`);
    };
    for (let round = 1; round <= runs; round++) {
      process.stderr.write(`round ${round} of ${runs}\n`);
      record('floor', await timed(() => lab.ws.keeper.sh(floorScript, { env: lab.ws.env })));
      record('noop-j1', await timed(() => cli(['deploy', '-q', '--jobs', '1'])));
      record('noop-j4', await timed(() => cli(['deploy', '-q', '--jobs', '4'])));
      // Exit 1 is a FAIL found, not a failed run: the lab's relay has no port 25 out (check --live's port-25 probe).
      record('check', await timed(async () => {
        const r = await lab.ws.cli(['check', '--live', '--json']);
        const hostsChecked = r.code <= 1 ? (JSON.parse(r.stdout) as { hosts: unknown[] }).hosts.length : 0;
        if (hostsChecked !== targets.length) throw new Error(`check --live: exit ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr}`);
      }));
      if (withAnsible) {
        let out = '';
        record('ansible', await timed(async () => (out = await playbook())));
        ansibleChanged += changed(out);
      }
      await setLevel((level = level === 1 ? 2 : 1));
      record('change-j1', await timed(() => cli(['deploy', '-q', '--jobs', '1'])));
      await setLevel((level = level === 1 ? 2 : 1));
      record('change-j4', await timed(() => cli(['deploy', '-q', '--jobs', '4'])));
      // The playbook's files are the bundles as built now.
      if (withAnsible) await cli(['export', 'ansible', 'fleet']);
    }

    const med = (n: SubjectName) => median(results.get(n)!.s);
    const cpus = os.availableParallelism();
    // The least a run of the same work could take with every CPU busy: its machine CPU time / CPUs.
    const cpuBound = (n: SubjectName) => median(results.get(n)!.cpu) / cpus;
    const ratios = {
      noopJ1OverFloor: med('noop-j1') / med('floor'),
      changeJ1OverFloor: med('change-j1') / med('floor'),
      checkOverFloor: med('check') / med('floor'),
      noopJ4OverJ1: med('noop-j4') / med('noop-j1'),
      changeJ4OverJ1: med('change-j4') / med('change-j1'),
      ansibleOverNoopJ1: withAnsible ? med('ansible') / med('noop-j1') : null,
      ansibleOverNoopJ4: withAnsible ? med('ansible') / med('noop-j4') : null,
      // The CPU bound of --jobs 4's work (its own CPU time / CPUs) against --jobs 1: no parallelism on this machine gets below it.
      noopJ4CpuBoundOverJ1: cpuBound('noop-j4') / med('noop-j1'),
      changeJ4CpuBoundOverJ1: cpuBound('change-j4') / med('change-j1'),
    };
    const report = {
      hosts: targets.length,
      runs,
      loadAverage: { atStart: loadAtStart, atEnd: os.loadavg() },
      cpus,
      ansibleChangedInTimedRuns: withAnsible ? ansibleChanged : null,
      subjects: Object.fromEntries([...results].filter(([, m]) => m.s.length).map(([n, m]) => [n, { medianS: median(m.s), runsS: m.s, medianLoad: median(m.load), medianCpuS: median(m.cpu) }])),
      ratios,
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const rows = [['subject', 'median', 'runs', 'load (1 min)', 'machine CPU'],
      ...[...results].filter(([, m]) => m.s.length).map(([n, m]) => [n, `${median(m.s).toFixed(2)} s`, m.s.map((x) => x.toFixed(2)).join(' '), median(m.load).toFixed(1), `${median(m.cpu).toFixed(2)} s`])];
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const f = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}×`);
    process.stdout.write([
      `${targets.length} hosts, ${runs} rounds, ${report.cpus} CPUs; load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}, at end ${report.loadAverage.atEnd.map((x) => x.toFixed(2)).join(' ')}`,
      ...rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')),
      `no-op deploy --jobs 1 / floor      ${f(ratios.noopJ1OverFloor)} (target ≤ 1.5×)`,
      `change deploy --jobs 1 / floor     ${f(ratios.changeJ1OverFloor)} (target ≤ 3×)`,
      `check --live / floor               ${f(ratios.checkOverFloor)} (target ≤ 1.5×)`,
      `--jobs 4 / --jobs 1, no-op         ${f(ratios.noopJ4OverJ1)} (target ≤ 0.35×; its CPU time over ${cpus} CPUs alone: ${f(ratios.noopJ4CpuBoundOverJ1)})`,
      `--jobs 4 / --jobs 1, change        ${f(ratios.changeJ4OverJ1)} (target ≤ 0.35×; its CPU time over ${cpus} CPUs alone: ${f(ratios.changeJ4CpuBoundOverJ1)})`,
      `ansible no-op / no-op --jobs 1     ${f(ratios.ansibleOverNoopJ1)} (target ≥ 3×; changed=${ansibleChanged} in its timed runs)`,
      `ansible no-op / no-op --jobs 4     ${f(ratios.ansibleOverNoopJ4)}`,
      '',
    ].join('\n'));
  } finally {
    await lab.teardown();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:deploy: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
