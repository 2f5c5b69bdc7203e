// Progress output: the same events rendered for a terminal and for a pipe, with the colour, quiet
// and verbose rules.
import { expect } from 'chai';
import type { Command } from '../../lib/programs/command.js';
import { colorWanted, Reporter, type ProgressStream } from '../../lib/cli/report.js';
import type { RunEvent } from '../../lib/runner/runner.js';
import type { ExecStep, Step, WriteStep } from '../../lib/plan/step.js';

class Capture implements ProgressStream {
  text = '';
  constructor(readonly isTTY: boolean, readonly columns = 100) {}
  write(t: string) {
    this.text += t;
    return true;
  }
}

const command: Command = { argv: ['openssl', 'genpkey'], passphraseOnStdin: false, display: 'openssl genpkey -out certs/x.key.pem' };
const exec = (title: string): ExecStep => ({ kind: 'exec', id: title, title, inputs: [], outputs: ['x'], output: 'x', tmp: '.x.tmp', mode: 0o600, command, createOnly: true });
const write = (title: string): WriteStep => ({ kind: 'write', id: title, title, inputs: [], outputs: ['y'], output: 'y', mode: 0o644, template: { engine: 'conf', name: 'leaf.cnf' }, context: {}, createOnly: false });
const copy = (title: string): Step => ({ kind: 'copy', id: title, title, inputs: ['a'], outputs: ['b'], source: 'a', output: 'b', mode: 0o644 });

/** A small run: a config written, one key made, one up to date, a bundle copy, a failure. */
function play(r: Reporter): void {
  const key = exec('key certs/a.key.pem');
  const old = exec('certificate certs/b.crt.pem');
  const conf = write('request config certs/a.cnf');
  const bundle = copy('bundle out/a/root/x');
  const bad = exec('request certs/c.csr.pem');
  const events: RunEvent[] = [
    { type: 'start', step: conf, reason: 'certs/a.cnf is missing' },
    { type: 'done', step: conf, ms: 1, changed: true },
    { type: 'start', step: key, reason: 'certs/a.key.pem is missing' },
    { type: 'done', step: key, ms: 31, changed: true },
    { type: 'skip', step: old },
    { type: 'start', step: bundle, reason: 'missing' },
    { type: 'done', step: bundle, ms: 2, changed: true },
    { type: 'start', step: bad, reason: 'missing' },
    { type: 'fail', step: bad, ms: 12 },
  ];
  events.forEach(r.onEvent);
  r.summary();
}

const opts = { quiet: false, verbose: false, json: false };

describe('progress output (lib/cli/report.ts)', () => {
  it('on a pipe: the command, then one plain line per step with state and duration, and a summary', () => {
    const out = new Capture(false);
    play(new Reporter(opts, out, {}));
    expect(out.text).to.not.include('\x1b');
    const lines = out.text.trimEnd().split('\n');
    expect(lines).to.deep.equal([
      'wrote       request config certs/a.cnf (0.00 s)',
      '+ openssl genpkey -out certs/x.key.pem',
      'run         key certs/a.key.pem (0.03 s)',
      'up to date  certificate certs/b.crt.pem',
      '+ openssl genpkey -out certs/x.key.pem',
      'failed      request certs/c.csr.pem (0.01 s)',
      lines[6],
    ]);
    expect(lines[6]).to.match(/^3 run, 1 up to date, 1 failed \(2 command\(s\)\), \d+\.\d\d s$/);
  });

  it('on a terminal: symbols and colours, and a live status line that is cleared before each line', () => {
    const out = new Capture(true);
    play(new Reporter(opts, out, { TERM: 'xterm' }));
    expect(out.text).to.match(/\x1b\[32m✓\x1b\[0m run +key certs\/a\.key\.pem\x1b\[2m \(0\.03 s\)/);
    expect(out.text).to.match(/\x1b\[31m✗\x1b\[0m \x1b\[31mfailed/);
    expect(out.text).to.include('\x1b[2m·\x1b[0m \x1b[2mup to date\x1b[0m  certificate certs/b.crt.pem\n');
    expect(out.text).to.match(/\x1b\[2m…\s?key certs\/a\.key\.pem \d+\.\d\d s\x1b\[0m\r\x1b\[K/);
    // Nothing is left on the status line at the end.
    expect(out.text.endsWith('\n')).to.equal(true);
  });

  it('NO_COLOR (non-empty) and TERM=dumb turn colours off on a terminal; symbols stay', () => {
    for (const env of [{ NO_COLOR: '1', TERM: 'xterm' }, { TERM: 'dumb' }]) {
      const out = new Capture(true);
      play(new Reporter(opts, out, env));
      expect(out.text).to.not.match(/\x1b\[[0-9;]*m/);
      expect(out.text).to.include('✓ run');
    }
    expect(colorWanted({ write: () => true, isTTY: true }, { NO_COLOR: '' })).to.equal(true);
    expect(colorWanted({ write: () => true, isTTY: false }, {})).to.equal(false);
  });

  it('--quiet: only the failed step, no commands, no summary', () => {
    const out = new Capture(false);
    play(new Reporter({ ...opts, quiet: true }, out, {}));
    expect(out.text).to.equal('failed      request certs/c.csr.pem (0.01 s)\n');
  });

  it('--verbose adds why a file step runs and the copies into bundles', () => {
    const out = new Capture(false);
    play(new Reporter({ ...opts, verbose: true }, out, {}));
    expect(out.text).to.include('  request config certs/a.cnf: certs/a.cnf is missing');
    expect(out.text).to.include('wrote       bundle out/a/root/x (0.00 s)');
  });

  it('a run with nothing to do says so', () => {
    const out = new Capture(false);
    const r = new Reporter(opts, out, {});
    r.onEvent({ type: 'skip', step: exec('key k') });
    r.onEvent({ type: 'skip', step: write('config c') });
    r.summary();
    expect(out.text).to.match(/^up to date  key k\nnothing to do: 2 step\(s\) up to date, \d+\.\d\d s\n$/);
  });
});
