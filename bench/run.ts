// `npm run bench`: what the tool costs over the commands it wraps. Prints a table of medians over
// repeated, interleaved runs and the ratios the performance targets are stated in (docs/benchmarks.md).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, describeShape, PACKAGE_ROOT, settingsText, Workspace, type Shape } from './fixtures.js';
import { bootstrap, measure, median, secs, signed, times, timed, type Invocation, type Sample, type Subject } from './harness.js';
import { ratioCheck, type Check, type Options, type Section, type SectionResult } from './section.js';
import { FLEET_SECTIONS } from './fleet.js';
import { describeMachine, type Machine } from './machine.js';

const HELP = `Usage: npm run bench -- [options]   (or: node dist/bench/run.js [options])

Times postfix-tls-relay against the plain shell script of the same build (plan --format sh), against
\`node -e 0\` for a rebuild with nothing to do, over 1, 10 and 100 clients, with --jobs 1 and 2, and
the seed Makefile for reference. Reports medians of repeated, interleaved runs and their ratios.

Options:
  --runs N      timed runs per measurement (default: per section, about 5-20; one untimed warm-up each)
  --quick       fewer runs (3-9): a rough answer in 3-4 minutes on 2 CPUs (the full run: 4.5-7)
  --only LIST   comma-separated sections: fleet,fleet-full,full-rsa,full-ec,noop,imports,clients,jobs,make
  --seed DIR    the seed Makefile's directory (default: ../shared/reference/seed from the package)
  --json        results as JSON on stdout instead of the table
  --keep        keep the temporary workspace (printed on stderr)
  -h, --help    this help

Example:
  npm run bench -- --quick --only noop,full-ec
`;

const EC: Shape = { keys: { algorithm: 'ec' }, clients: 1 };
const RSA: Shape = { keys: { algorithm: 'rsa', caBits: 4096, leafBits: 2048 }, clients: 1 };
/** A fixed CPU-bound loop (about a second here): the reference for what two processes can gain. */
const SPIN_ITERATIONS = 1e8;
const KEYGEN_BOUND: Shape = { keys: { algorithm: 'rsa', caBits: 3072, leafBits: 3072 }, clients: 6 };

/**
 * From the audit log, the key-generation phase: ms from the first key's start to the last one's end,
 * and how many keys were in flight on average (their summed durations over that span).
 */
function keygenPhase(dir: string): { span: number; inFlight: number } {
  const lines = readFileSync(path.join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { start: string; step: string; durationMs: number });
  const keys = lines.filter((l) => l.step === 'ca-key' || l.step.startsWith('key:'));
  const start = Math.min(...keys.map((k) => Date.parse(k.start)));
  const span = Math.max(...keys.map((k) => Date.parse(k.start) + k.durationMs)) - start;
  return { span, inFlight: keys.reduce((sum, k) => sum + k.durationMs, 0) / span };
}

/** A subject that builds a fresh project of `shape` with the tool and checks the result. */
function toolBuild(ws: Workspace, name: string, shape: Shape, args: string[] = []): Subject {
  return {
    name,
    prepare: () => ws.tool(ws.project(settingsText(shape)), args),
    after: ws.builtThenRemoved(shape),
  };
}

function shBuild(ws: Workspace, shape: Shape): Subject {
  return {
    name: 'sh plan.sh (the same commands as plain shell)',
    prepare: () => ws.shScript(ws.project(settingsText(shape))),
    after: ws.builtThenRemoved(shape),
  };
}

/** How often a build asks gpg for the passphrase: the tool (from --json), the sh script (its pipes). */
function gpgCounts(ws: Workspace, shape: Shape): { tool: number; script: number } {
  const a = ws.project(settingsText(shape));
  const r = spawnSync(process.execPath, [CLI, 'build', '--json'], { cwd: a, env: ws.env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build --json failed: ${r.stderr}`);
  const tool = (JSON.parse(r.stdout) as { gpgDecryptions: number }).gpgDecryptions;
  const b = ws.project(settingsText(shape));
  ws.shScript(b);
  const script = readFileSync(path.join(b, 'plan.sh'), 'utf8').split('\n').filter((l) => l.startsWith('gpg --batch --decrypt ')).length;
  ws.remove(a);
  ws.remove(b);
  return { tool, script };
}

function fullBuild(ws: Workspace, shape: Shape, runs: number, check: (tool: Sample, sh: Sample) => Check) {
  const [sh, tool, one] = measure([shBuild(ws, shape), toolBuild(ws, 'postfix-tls-relay build', shape), toolBuild(ws, 'postfix-tls-relay build --jobs 1', shape, ['--jobs', '1'])], runs);
  const gpg = gpgCounts(ws, shape);
  const vsSh = (s: Sample) => `${times(s.median / sh!.median)} sh, ${signed(s.median - sh!.median)}`;
  return {
    title: `Full build from scratch vs the same commands run by sh: ${describeShape(shape)}`,
    rows: [{ sample: sh! }, { sample: tool!, note: vsSh(tool!) }, { sample: one!, note: vsSh(one!) }],
    checks: [check(tool!, sh!)],
    notes: [
      `gpg decryptions per build: the tool ${gpg.tool}, the sh script ${gpg.script} (one per passphrase step; without a gpg-agent holding the key's passphrase each one would prompt).`,
      'The sh script runs its steps one after another; the tool runs independent steps in parallel (--jobs, default: CPUs). --jobs 1 shows the pure overhead.',
    ],
  };
}

const SECTIONS: readonly Section[] = [
  ...FLEET_SECTIONS,
  {
    id: 'full-rsa',
    runs: [9, 3],
    run: (ws, runs) =>
      fullBuild(ws, RSA, runs, (tool, sh) => ratioCheck('full build, RSA: tool / sh', tool.ms, sh.ms, 1.1)),
  },
  {
    id: 'full-ec',
    runs: [11, 5],
    run: (ws, runs) =>
      fullBuild(ws, EC, runs, (tool, sh) => {
        const [lo, hi] = bootstrap([tool.ms, sh.ms], ([x, y]) => x! - y!);
        return {
          name: 'full build, EC: tool − sh',
          value: signed(tool.median - sh.median),
          target: '≤ +0.250 s',
          ok: tool.median - sh.median <= 250,
          interval: { text: `${signed(lo)} to ${signed(hi)}`, decisive: hi <= 250 || lo > 250 },
        };
      }),
  },
  {
    id: 'noop',
    runs: [21, 9],
    run: (ws, runs) => {
      const dir = ws.project(settingsText(EC));
      timed(ws.tool(dir));
      const audit = readFileSync(path.join(dir, 'audit.log'));
      const [node, noop] = measure(
        [
          { name: 'node -e 0', prepare: () => ({ argv: [process.execPath, '-e', '0'], cwd: dir }) },
          { name: 'postfix-tls-relay build (nothing to do)', prepare: () => ws.tool(dir) },
        ],
        runs,
      );
      if (!readFileSync(path.join(dir, 'audit.log')).equals(audit)) throw new Error('the no-op rebuild ran commands');
      const ratio = noop!.median / node!.median;
      return {
        title: `Rebuild with nothing to do vs node -e 0: ${describeShape(EC)}`,
        rows: [{ sample: node! }, { sample: noop!, note: `${times(ratio)} node -e 0, ${signed(noop!.median - node!.median)}` }],
        checks: [ratioCheck('no-op rebuild / node -e 0', noop!.ms, node!.ms, 2.5)],
        notes: ['A plain build is parsed without yargs, and nothing that runs programs or renders templates is loaded when nothing is stale (see the imports section).'],
      };
    },
  },
  {
    id: 'imports',
    runs: [11, 5],
    run: (_ws, runs) => {
      const imp = (spec: string): Subject => ({
        name: `node: import('${spec}')`,
        prepare: () => ({ argv: [process.execPath, '--input-type=module', '-e', `await import(${JSON.stringify(spec)})`], cwd: PACKAGE_ROOT }),
      });
      const samples = measure(
        [{ name: 'node -e 0', prepare: () => ({ argv: [process.execPath, '-e', '0'], cwd: PACKAGE_ROOT }) }, ...['yargs', 'yargs/yargs', 'execa', 'fs-extra', 'ejs', 'node:util'].map(imp)],
        runs,
      );
      const base = samples[0]!.median;
      return {
        title: 'Start-up cost of a dependency (what a no-op rebuild must not load)',
        rows: samples.map((s, i) => ({ sample: s, note: i === 0 ? undefined : signed(s.median - base) })),
        checks: [],
        notes: ['yargs and yargs/yargs are the same entry point in yargs 18, which loads cliui/string-width, y18n and its parser eagerly. node:util (parseArgs) costs nothing measurable.'],
      };
    },
  },
  {
    id: 'clients',
    runs: [5, 3],
    run: (ws, runs) => {
      const sizes = [1, 10, 100];
      const shapes = sizes.map((clients) => ({ ...EC, clients }));
      // The small builds are cheap and their noise enters the prediction 99-fold: sample them more.
      const samples = measure(
        shapes.map((s) => ({ ...toolBuild(ws, `build, ${s.clients} client${s.clients === 1 ? '' : 's'}`, s), repeat: s.clients < 100 ? 3 : 1 })),
        runs,
      );
      const linear = (t: number[]) => {
        const [t1, t10, t100] = t as [number, number, number];
        const perClient = (t10 - t1) / 9;
        return { perClient, fixed: t1 - perClient, predicted: t1 + 99 * perClient, ratio: t100 / (t1 + 99 * perClient) };
      };
      const wall = linear(samples.map((s) => s.median));
      const [lo, hi] = bootstrap(samples.map((s) => s.ms), (m) => linear(m).ratio);
      const cpu = linear(samples.map((s) => s.cpu));
      const big = ws.project(settingsText(shapes[2]!));
      timed(ws.tool(big));
      const [noop] = measure([{ name: 'build, 100 clients, nothing to do', prepare: () => ws.tool(big) }], runs);
      return {
        title: `Growth with the number of clients: ${describeShape(shapes[2]!).replace(/, relay.*/, '')}, default --jobs`,
        rows: [
          ...samples.map((s, i) => ({ sample: s, note: `${secs(s.median / sizes[i]!)} per client` })),
          { sample: noop!, note: `${secs(noop!.median / 100)} per client` },
        ],
        checks: [
          {
            name: '100 clients / (1 client + 99 × marginal cost from 1→10)',
            value: `${times(wall.ratio)} (${secs(samples[2]!.median)} vs ${secs(wall.predicted)})`,
            target: '≤ 1.10×',
            ok: wall.ratio <= 1.1,
            interval: { text: `${times(lo)}–${times(hi)}`, decisive: hi <= 1.1 || lo > 1.1 },
          },
        ],
        notes: [
          `Wall time: a client costs ${secs(wall.perClient)} (from 1 to 10 clients) on top of ${secs(wall.fixed)}; linear growth predicts ${secs(wall.predicted)} for 100.`,
          `CPU time, steadier on a busy machine: ${secs(cpu.perClient)} per client on top of ${secs(cpu.fixed)}; 100 clients took ${times(cpu.ratio)} the linear prediction.`,
        ],
      };
    },
  },
  {
    id: 'jobs',
    runs: [5, 3],
    run: (ws, runs) => {
      // Besides the whole build, the key-generation phase from the audit log: first key started to last key done.
      const phases = new Map<string, { span: number; inFlight: number }[]>();
      const build = (jobs: number): Subject => {
        const name = `build --jobs ${jobs}`;
        const s = toolBuild(ws, name, KEYGEN_BOUND, ['--jobs', String(jobs)]);
        return {
          ...s,
          after: (inv) => {
            phases.set(name, [...(phases.get(name) ?? []), keygenPhase(inv.cwd)]);
            s.after!(inv);
          },
        };
      };
      // What two processes get from this machine right now: a fixed CPU-bound job alone, then two at once.
      const spin = `let x = 0; for (let i = 0; i < ${SPIN_ITERATIONS}; i++) x += i;`;
      const alone: Subject = { name: 'reference: one CPU-bound process', prepare: () => ({ argv: [process.execPath, '-e', spin], cwd: ws.root }) };
      const pair: Subject = {
        name: 'reference: two of them at once',
        prepare: () => ({ argv: ['sh', '-c', `"$0" -e "$1" & "$0" -e "$1"; wait`, process.execPath, spin], cwd: ws.root }),
      };
      const [one, two, single, double] = measure([build(1), build(2), alone, pair], runs);
      const available = (2 * single!.median) / double!.median;
      const timedPhases = (s: Sample) => phases.get(s.name)!.slice(-runs); // without the warm-up
      const spans = (s: Sample) => timedPhases(s).map((p) => p.span);
      const span = (s: Sample) => median(spans(s));
      const inFlight = (s: Sample) => median(timedPhases(s).map((p) => p.inFlight)).toFixed(2);
      const speedup = one!.median / two!.median;
      const keySpeedup = span(one!) / span(two!);
      return {
        title: `Parallel key generation: ${describeShape(KEYGEN_BOUND)}`,
        rows: [
          { sample: one!, note: `key generation ${secs(span(one!))}, ${inFlight(one!)} keys in flight` },
          { sample: two!, note: `key generation ${secs(span(two!))}, ${inFlight(two!)} keys in flight; ${times(keySpeedup)} faster (whole build ${times(speedup)})` },
          { sample: single! },
          { sample: double!, note: `the machine gave two processes ${times(available)} the throughput of one` },
        ],
        checks: [ratioCheck('key generation, --jobs 1 / --jobs 2 (audit log span)', spans(one!), spans(two!), 1.7, true)],
        notes: [
          `${KEYGEN_BOUND.clients + 2} RSA keys of random duration (prime search); two CPUs finish together only on average. The openssl ca steps (one at a time by design) and the start-up stay serial.`,
          'Keys in flight (summed key durations / key-generation span) is the scheduler\'s part and does not depend on load; the speed-up also needs the CPUs to be free.',
          `The reference rows show what two processes could gain here at the time (itself measured with noise): ${times(available)} for two ideal CPU-bound jobs; key generation got ${times(keySpeedup)}.`,
        ],
      };
    },
  },
  {
    id: 'make',
    runs: [5, 3],
    run: (ws, runs, opts) => {
      if (!existsSync(path.join(opts.seedDir, 'Makefile'))) return undefined;
      const relayCert = 'certs/smtpd-server/relayhost.example.org.crt.pem';
      const clientCert = 'certs/smtp-client/mailhost.example.org.crt.pem';
      const caKey = 'certs/ca/example.org-ca.key.pem';
      const once = (inv: Invocation, files: string[]) => {
        ws.expectFiles(inv.cwd, files);
        ws.remove(inv.cwd);
      };
      let caKeyReplaced = 0;
      const keyHash = (dir: string) => createHash('sha256').update(readFileSync(path.join(dir, caKey))).digest('hex');
      const before = new Map<string, string>();
      const samples = measure(
        [
          { name: 'make (seed default target: CA and the client only)', prepare: () => ws.make(ws.seedProject(opts.seedDir)), after: (inv) => once(inv, [clientCert]) },
          {
            name: 'make local <relay cert> (the same certificates as the tool)',
            prepare: () => ws.make(ws.seedProject(opts.seedDir), ['local', relayCert]),
            after: (inv) => once(inv, [clientCert, relayCert]),
          },
          {
            name: 'make again, nothing changed',
            prepare: () => {
              const dir = ws.seedProject(opts.seedDir);
              timed(ws.make(dir));
              before.set(dir, keyHash(dir));
              return ws.make(dir);
            },
            after: (inv) => {
              if (keyHash(inv.cwd) !== before.get(inv.cwd)) caKeyReplaced++;
              ws.remove(inv.cwd);
            },
          },
          {
            name: 'postfix-tls-relay build (same settings file)',
            prepare: () => ws.tool(ws.seedProject(opts.seedDir)),
            after: (inv) => once(inv, [clientCert, relayCert]),
          },
        ],
        runs,
      );
      const rounds = runs + 1;
      const probe = ws.seedProject(opts.seedDir);
      const dry = spawnSync('make', ['-n'], { cwd: probe, env: ws.env, encoding: 'utf8' });
      const gpgPerMake = dry.stdout.split('\n').filter((l) => /^gpg -d /.test(l)).length;
      ws.remove(probe);
      const same = samples[1]!;
      const tool = samples[3]!;
      return {
        title: "The seed Makefile (reference), on the seed's settings.mk.example: RSA 4096-bit CA, 2048-bit hosts",
        rows: samples.map((s, i) => ({ sample: s, note: i === 3 ? `${times(tool.median / same.median)} make local <relay cert>` : undefined })),
        checks: [],
        notes: [
          "The seed's default target builds the CA and the one client only; the relay's key and certificate need their own target. It cannot make EC keys (openssl genrsa).",
          `gpg decryptions per make: ${gpgPerMake} for the default target, one per signing step (gpg -d, which prompts each time without an agent); the tool: 1.`,
          `make again, nothing changed: the Makefile lists directories as prerequisites of the CA key, so it rebuilt everything; it replaced the CA key in ${caKeyReplaced} of ${rounds} rounds.`,
          'The tool additionally renders the allowlist and both hosts\' bundles; the seed prints instructions instead.',
        ],
      };
    },
  },
];

function table(machine: Machine, results: SectionResult[], totalMs: number): string {
  const out: string[] = [];
  out.push(`postfix-tls-relay benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  out.push(`machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.kernel}`);
  out.push(`         node ${machine.node}, ${machine.openssl}, ${machine.gpg}, ${machine.make}, sh = ${machine.sh}`);
  out.push(`         load average at start ${machine.loadAverage.join(' ')}`);
  const w = Math.max(...results.flatMap((r) => r.rows.map((x) => x.sample.name.length)), 20);
  for (const r of results) {
    out.push('', `${r.title}  [${r.runs} runs; load ${r.loadAverage.map((x) => x.toFixed(1)).join(' ')}]`);
    out.push(`  ${'subject'.padEnd(w)}  ${'median'.padStart(9)}  ${'min – max'.padEnd(13)}  ${'cpu'.padStart(7)}  compared (medians of wall time)`);
    for (const row of r.rows) {
      const s = row.sample;
      const range = `${(s.min / 1000).toFixed(3)} – ${(s.max / 1000).toFixed(3)}`;
      out.push(`  ${s.name.padEnd(w)}  ${secs(s.median).padStart(9)}  ${range.padEnd(13)}  ${(s.cpu / 1000).toFixed(2).padStart(5)} s  ${row.note ?? ''}`.trimEnd());
    }
    for (const n of r.notes) out.push(`  note: ${n}`);
    for (const c of r.checks) {
      const interval = c.interval ? ` (95 % interval ${c.interval.text})` : '';
      const verdict = c.ok ? 'met' : 'MISSED';
      const decisive = !c.interval || c.interval.decisive ? '' : ' — not decisive: the interval spans the target, more runs needed';
      out.push(`  target: ${c.name} = ${c.value}${interval}, target ${c.target}: ${verdict}${decisive}`);
    }
  }
  const checks = results.flatMap((r) => r.checks);
  const undecided = checks.filter((c) => c.interval && !c.interval.decisive).length;
  out.push('', `targets met: ${checks.filter((c) => c.ok).length} of ${checks.length}${undecided ? ` (${undecided} not decisive)` : ''}; benchmark took ${(totalMs / 60000).toFixed(1)} min`);
  return `${out.join('\n')}\n`;
}

function options(): { opts: Options; only?: Set<string>; json: boolean; keep: boolean } | undefined {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  let runs: number | undefined;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) throw new UsageError('--runs: expected a whole number of timed runs, 1 or more, e.g. --runs 5');
  }
  const known = new Set(SECTIONS.map((s) => s.id));
  const only = values.only === undefined ? undefined : new Set(values.only.split(',').map((s) => s.trim()).filter(Boolean));
  for (const id of only ?? []) {
    if (!known.has(id)) throw new UsageError(`--only ${id}: no such section; choose from ${[...known].join(', ')}`);
  }
  const seedDir = path.resolve(values.seed ?? path.join(PACKAGE_ROOT, '..', 'shared', 'reference', 'seed'));
  if (values.seed !== undefined && !existsSync(path.join(seedDir, 'Makefile'))) {
    throw new UsageError(`--seed ${values.seed}: no Makefile there; name the directory holding the seed's Makefile and settings.mk.example`);
  }
  return { opts: { runs, quick: values.quick, seedDir }, only, json: values.json, keep: values.keep };
}

class UsageError extends Error {}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = options();
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}${err instanceof UsageError ? '' : '; see --help'}\n`);
    return 2;
  }
  if (!parsed) {
    process.stdout.write(HELP);
    return 0;
  }
  const { opts, only, json, keep } = parsed;
  const started = performance.now();
  const machine = describeMachine();
  const ws = new Workspace();
  const results: SectionResult[] = [];
  try {
    for (const section of SECTIONS) {
      if (only && !only.has(section.id)) continue;
      const runs = opts.runs ?? section.runs[opts.quick ? 1 : 0];
      process.stderr.write(`bench: ${section.id} (${runs} runs)…\n`);
      const t0 = performance.now();
      const r = section.run(ws, runs, opts);
      if (!r) {
        process.stderr.write(`bench: ${section.id}: skipped, no seed Makefile in ${opts.seedDir} (use --seed DIR)\n`);
        continue;
      }
      results.push({ id: section.id, runs, loadAverage: describeMachine().loadAverage, ...r });
      process.stderr.write(`bench: ${section.id} took ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    }
  } finally {
    ws.dispose(keep);
    if (keep) process.stderr.write(`bench: workspace kept in ${ws.root}\n`);
  }
  const total = performance.now() - started;
  if (json) process.stdout.write(`${JSON.stringify({ machine, totalMs: Math.round(total), sections: results }, null, 2)}\n`);
  else process.stdout.write(table(machine, results, total));
  return 0;
}

process.exitCode = await main();
