// The 1000-client sections (issue 17's targets, as ratios measured in the same run): a no-op rebuild,
// `status --json` and `plan` against `node -e 0`; how a no-op rebuild grows per client (100 → 1000);
// `add-client` against the build of a one-client project; and a full build against its own
// `plan --format sh` script run by sh.
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { CLI, settingsText, type Shape, type Workspace } from './fixtures.js';
import { bootstrap, measure, median, secs, signed, timed, times, type Invocation, type Subject } from './harness.js';
import { ratioCheck, type Section } from './section.js';

const FLEET: Shape = { keys: { algorithm: 'ec' }, clients: 1000 };
const MID: Shape = { keys: { algorithm: 'ec' }, clients: 100 };
const ONE: Shape = { keys: { algorithm: 'ec' }, clients: 1 };

const cli = (ws: Workspace, dir: string, args: string[]): Invocation => ({ argv: [process.execPath, CLI, ...args], cwd: dir, env: ws.env });

function built(ws: Workspace, shape: Shape): string {
  const dir = ws.project(settingsText(shape));
  timed(ws.tool(dir));
  return dir;
}

const queries: Section = {
  id: 'fleet',
  runs: [5, 3],
  run: (ws, runs) => {
    const big = built(ws, FLEET);
    const mid = built(ws, MID);
    // add-client and the chmod change their projects: each gets its own copy, so that the no-op subjects
    // find theirs as the last run left it, and each add-client finds its project as the one before left it
    // (up to date: clients added one after another, as a script does). The no-op after a change is measured
    // on its own copy (a chmod, which makes nothing stale).
    const copy = (suffix: string) => {
      const dir = `${big}-${suffix}`;
      const cp = spawnSync('cp', ['-a', big, dir]);
      if (cp.status !== 0) throw new Error(`fleet: cp -a failed: ${cp.stderr}`);
      return dir;
    };
    const grown = copy('add');
    const changedDir = copy('chmod');
    // A copy has new inodes and ctimes: built once, a second later, it is known up to date again (untimed).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
    timed(ws.tool(grown));
    let added = 0;
    const subjects: Subject[] = [
      { name: 'node -e 0', prepare: () => ({ argv: [process.execPath, '-e', '0'], cwd: big }) },
      { name: 'build, 1000 clients, nothing to do', prepare: () => ws.tool(big) },
      { name: 'build, 100 clients, nothing to do', prepare: () => ws.tool(mid) },
      { name: 'status --json, 1000 clients', prepare: () => cli(ws, big, ['status', '--json']) },
      { name: 'plan, 1000 clients', prepare: () => cli(ws, big, ['plan', '-q']) },
      { name: 'add-client, 1000 clients', prepare: () => cli(ws, grown, ['add-client', `added${String(++added).padStart(3, '0')}`, '-q']) },
      {
        name: 'build, 1000 clients, nothing to do after a chmod',
        prepare: () => {
          chmodSync(path.join(changedDir, 'certs'), 0o700); // a new ctime: the trees are not as the last run left them
          return ws.tool(changedDir);
        },
      },
      {
        name: 'build, 1 client, fresh project',
        prepare: () => ws.tool(ws.project(settingsText(ONE))),
        after: ws.builtThenRemoved(ONE),
      },
    ];
    const [node, noop, noopMid, status, plan, add, changed, one] = measure(subjects, runs);
    // Both projects must still be a no-op after all that (add-client built what it added).
    for (const dir of [big, grown, changedDir]) {
      const check = spawnSync(process.execPath, [CLI, 'plan', '--json'], { cwd: dir, env: ws.env, encoding: 'utf8', maxBuffer: 64 << 20 });
      const stale = (JSON.parse(check.stdout) as { steps: { state: string }[] }).steps.filter((s) => s.state === 'would-run').length;
      if (stale) throw new Error(`fleet: ${stale} step(s) stale in ${dir} after the measurements`);
    }
    const slope = (a: number, b: number) => (a - b) / 900;
    const [lo, hi] = bootstrap([noop!.ms, noopMid!.ms], ([a, b]) => slope(a!, b!));
    const perClient = slope(noop!.median, noopMid!.median);
    const vsNode = (m: number) => `${times(m / node!.median)} node -e 0`;
    ws.remove(big);
    ws.remove(grown);
    ws.remove(changedDir);
    ws.remove(mid);
    return {
      title: 'A fleet of 1000 clients (EC P-256): queries and small changes',
      rows: [
        { sample: node! },
        { sample: noop!, note: vsNode(noop!.median) },
        { sample: noopMid!, note: vsNode(noopMid!.median) },
        { sample: status!, note: vsNode(status!.median) },
        { sample: plan!, note: vsNode(plan!.median) },
        { sample: add!, note: `${times(add!.median / one!.median)} a fresh one-client build` },
        { sample: changed!, note: vsNode(changed!.median) },
        { sample: one! },
      ],
      checks: [
        ratioCheck('no-op rebuild, 1000 clients / node -e 0', noop!.ms, node!.ms, 5),
        {
          name: 'no-op rebuild growth per client (100 → 1000 clients)',
          value: `${(perClient).toFixed(3)} ms`,
          target: '≤ 0.200 ms',
          ok: perClient <= 0.2,
          interval: { text: `${lo.toFixed(3)}–${hi.toFixed(3)} ms`, decisive: hi <= 0.2 || lo > 0.2 },
        },
        ratioCheck('status --json, 1000 clients / node -e 0', status!.ms, node!.ms, 5),
        ratioCheck('plan, 1000 clients / node -e 0', plan!.ms, node!.ms, 5),
        ratioCheck('add-client at 1000 clients / build of 1 client in a fresh project', add!.ms, one!.ms, 2),
      ],
      notes: [
        'The project state is read once per run: one scan of the trees (directory listings remembered by the directories\' identity), and a generated file whose identity (inode, size, times) matches the recorded one is not read again to know it is what the tool wrote.',
        'A plain build (and plan, and status\'s check of generated files) whose settings, tool and trees are as the last up-to-date run left them makes no plan; "after a chmod" is the same project with one new ctime, so the plan is made and every step asked.',
        'add-client finds its project as the previous add-client left it (known up to date: a run that wrote files stamps too), so it plans and asks only the new client, the relays, the CA and the allowlist.',
        `No-op growth: ${signed(noop!.median - noopMid!.median)} from 100 to 1000 clients.`,
      ],
    };
  },
};

const full: Section = {
  id: 'fleet-full',
  runs: [1, 1],
  run: (ws, runs) => {
    const tool: Subject = {
      name: 'postfix-tls-relay build, 1000 clients',
      prepare: () => ws.tool(ws.project(settingsText(FLEET))),
      after: ws.builtThenRemoved(FLEET),
    };
    const sh: Subject = {
      name: 'sh plan.sh, 1000 clients (gpg once per signing step)',
      prepare: () => ws.shScript(ws.project(settingsText(FLEET))),
      after: ws.builtThenRemoved(FLEET),
    };
    // No warm-up round: each build takes tens of seconds, and neither has anything to warm.
    const [a, b] = measure([tool, sh], runs, 0);
    return {
      title: 'A fleet of 1000 clients (EC P-256): full build vs the same commands run by sh',
      rows: [{ sample: b! }, { sample: a!, note: `${times(a!.median / b!.median)} sh, ${signed(a!.median - b!.median)}; ${secs(a!.median / 1000)} per client` }],
      checks: [ratioCheck('full build, 1000 clients: tool / sh', a!.ms, b!.ms, 1.0)],
      notes: [`${runs} run(s) each; medians of so few runs are indications.`, `median of the tool: ${secs(median(a!.ms))}.`],
    };
  },
};

export const FLEET_SECTIONS: readonly Section[] = [queries, full];
