// The runner's scheduling promises, checked with real processes (sh, sleep): at most --jobs steps at
// once and that many when there is work for them, steps sharing a `serial` lock one at a time in plan
// order, and the audit log in plan order whatever order the steps finish in.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tmpName } from '../../lib/files/atomic.js';
import { Passphrase } from '../../lib/secrets/passphrase.js';
import { runPlan, type RunEvent } from '../../lib/runner/runner.js';
import { shJoin } from '../../lib/programs/shell.js';
import type { ExecStep } from '../../lib/plan/step.js';

/** A step whose command sleeps, appends its id to `trace` and writes its output (a PEM block, as openssl would). */
function sleeper(id: string, seconds: number, opts: { inputs?: string[]; serial?: string; trace?: string } = {}): ExecStep {
  const output = `${id}.out`;
  const tmp = tmpName(output);
  const trace = opts.trace ? `echo ${id} >> ${opts.trace}; ` : '';
  const pem = `'-----BEGIN TEST-----' '${Buffer.from(id).toString('base64')}' '-----END TEST-----'`;
  const argv = ['sh', '-c', `sleep ${seconds}; ${trace}printf '%s\\n' ${pem} > "$0"`, tmp];
  return {
    kind: 'exec', id, title: id, inputs: opts.inputs ?? [], outputs: [output], output, tmp, mode: 0o644,
    command: { argv, passphraseOnStdin: false, display: shJoin(argv) }, createOnly: false, serial: opts.serial,
  };
}

/** Runs the plan and records, from the runner's events, how many steps ran at once and in which order they started. */
async function observe(dir: string, steps: ExecStep[], jobs: number) {
  let running = 0;
  let most = 0;
  const started: string[] = [];
  const overlaps = new Set<string>();
  const active = new Set<string>();
  const onEvent = (e: RunEvent) => {
    if (e.type === 'start') {
      running++;
      most = Math.max(most, running);
      started.push(e.step.id);
      for (const a of active) overlaps.add([a, e.step.id].sort().join('+'));
      active.add(e.step.id);
    } else if (e.type === 'done' || e.type === 'fail') {
      running--;
      active.delete(e.step.id);
    }
  };
  const result = await runPlan(steps, { projectDir: dir, passphrase: new Passphrase(undefined), jobs, onEvent });
  return { most, started, overlaps, result };
}

describe('runner scheduling', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-sched-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const jobs of [1, 2, 3]) {
    it(`runs independent steps ${jobs} at a time with jobs = ${jobs}`, async () => {
      const steps = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => sleeper(id, 0.15));
      const { most, result } = await observe(dir, steps, jobs);
      expect(most).to.equal(jobs);
      expect(result.outcomes.map((o) => o.state)).to.deep.equal(Array(6).fill('ran'));
    });
  }

  it('runs a step only after the step that makes its input', async () => {
    const steps = [sleeper('key', 0.2), sleeper('csr', 0, { inputs: ['key.out'] }), sleeper('other', 0)];
    const { overlaps, started } = await observe(dir, steps, 3);
    expect(overlaps.has('csr+key')).to.equal(false);
    expect(started.indexOf('csr')).to.be.greaterThan(started.indexOf('key'));
  });

  it('runs serial steps one at a time in plan order, even when a later one is ready first', async () => {
    const trace = path.join(dir, 'trace');
    // s1 waits for a slow producer; s2 and s3 could start at once but must queue behind s1.
    const steps = [
      sleeper('slow', 0.3),
      sleeper('s1', 0.05, { inputs: ['slow.out'], serial: 'db', trace }),
      sleeper('s2', 0.05, { serial: 'db', trace }),
      sleeper('s3', 0.05, { serial: 'db', trace }),
      sleeper('free', 0.05),
    ];
    const { started, overlaps } = await observe(dir, steps, 4);
    expect(started.filter((id) => id.startsWith('s'))).to.deep.equal(['slow', 's1', 's2', 's3']);
    expect([...overlaps].filter((o) => /^s\d\+s\d$/.test(o))).to.deep.equal([]);
    expect(readFileSync(trace, 'utf8')).to.equal('s1\ns2\ns3\n');
    expect(overlaps.has('free+slow')).to.equal(true); // the free step did not wait for the queue
  });

  it('writes the audit log in plan order when steps finish out of order', async () => {
    const steps = [sleeper('late', 0.3), sleeper('early', 0), sleeper('middle', 0.1)];
    const { result } = await observe(dir, steps, 3);
    expect(result.outcomes.map((o) => o.state)).to.deep.equal(['ran', 'ran', 'ran']);
    const audit = readFileSync(path.join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: string; exit: number });
    expect(audit.map((a) => a.step)).to.deep.equal(['late', 'early', 'middle']);
    expect(audit.every((a) => a.exit === 0)).to.equal(true);
  });

  it('rejects a jobs count that would schedule nothing', async () => {
    for (const jobs of [0, Number.NaN, 1.5]) {
      let err: unknown;
      try {
        await runPlan([sleeper('a', 0)], { projectDir: dir, passphrase: new Passphrase(undefined), jobs });
      } catch (e) {
        err = e;
      }
      expect(err, `jobs = ${jobs}`).to.be.instanceOf(RangeError);
    }
  });
});
