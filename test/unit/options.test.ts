// A plain `build` is parsed without yargs; whatever that parser accepts must mean exactly what yargs
// makes of it, and everything else must be left to yargs.
import { expect } from 'chai';
import yargs from 'yargs';
import { globals } from '../../lib/cli/main.js';
import { GLOBAL_OPTIONS, plainCommand } from '../../lib/cli/options.js';

/** The arguments of a plain `build` (no command, or `build`), as main takes them. */
function plainBuildArgs(argv: string[]) {
  const p = plainCommand(argv);
  return p?.command === 'build' ? p.args : undefined;
}

function byYargs(argv: string[]): { args: Record<string, unknown>; positionals: unknown[] } {
  const parsed = globals(yargs(argv)).strict(false).help(false).version(false).parseSync() as Record<string, unknown> & { _: unknown[] };
  const args: Record<string, unknown> = {};
  for (const o of GLOBAL_OPTIONS) if (parsed[o.key] !== undefined) args[o.key] = parsed[o.key];
  return { args, positionals: parsed._ };
}

describe('plain build arguments without yargs', () => {
  const same: string[][] = [
    [],
    ['build'],
    ['-q'],
    ['build', '-C', '/x/y', '-q'],
    ['--dir=/x', 'build'],
    ['-C', 'dir with space', '--json'],
    ['-qv'],
    ['-qj', '2'],
    ['--json', '-n', '--verbose'],
    ['--dry-run'],
    ['-j', '2'],
    ['--jobs=3', 'build'],
    ['--jobs', '0'],
    ['--set', 'a=1', '--set', 'b=x y'],
    ['--set', 'a=1', '-q'],
    ['build', '--set=smtpd_server_port=2525'],
    ['-f', 'other.mk'],
    ['--settings=s.mk', '--dry-run', '-C', '.'],
  ];
  for (const argv of same) {
    it(`reads ${JSON.stringify(argv)} as yargs does`, () => {
      const mine = plainBuildArgs(argv);
      const theirs = byYargs(argv);
      expect(mine, 'taken without yargs').to.not.equal(undefined);
      expect(theirs.positionals.filter((p) => p !== 'build')).to.deep.equal([]);
      expect({ ...mine }).to.deep.equal(theirs.args);
    });
  }

  const toYargs: string[][] = [
    ['--help'],
    ['-h'],
    ['plan'],
    ['status', '--json'],
    ['build', 'extra'],
    ['--no-quiet'],
    ['--quiet=false'],
    ['--dryRun'],
    ['-C', 'a', '-C', 'b'],
    ['-C=dir'],
    ['-j2'],
    ['--set', 'a=1', 'build'],
    ['--', 'build'],
    ['-j', 'abc'],
    ['-j', '1.5'],
    ['-j', '-3'],
    ['--jobs'],
    ['--unknown'],
  ];
  for (const argv of toYargs) {
    it(`leaves ${JSON.stringify(argv)} to yargs`, () => {
      expect(plainBuildArgs(argv)).to.equal(undefined);
    });
  }
});

describe('plain plan and status arguments without yargs', () => {
  for (const argv of [['plan'], ['plan', '-q'], ['status', '--json'], ['-C', '/x', 'status', '-q'], ['status', '--set', 'a=1']]) {
    it(`reads ${JSON.stringify(argv)} as yargs reads its global options`, () => {
      const mine = plainCommand(argv);
      expect(mine?.command).to.equal(argv.find((a) => a === 'plan' || a === 'status'));
      expect({ ...mine!.args }).to.deep.equal(byYargs(argv).args);
    });
  }
  it('reads ["add-client","backup","-q"] as yargs reads its global options, with the host', () => {
    const mine = plainCommand(['add-client', 'backup', '-q']);
    expect(mine?.command).to.equal('add-client');
    expect(mine?.positionals).to.deep.equal(['backup']);
    expect({ ...mine!.args }).to.deep.equal(byYargs(['add-client', 'backup', '-q']).args);
  });
  for (const argv of [['plan', '--format', 'sh'], ['plan', '--format=text'], ['status', '--check'], ['status', '--nagios'], ['status', '-o', 'x.prom'], ['status', '--warn-days', '3'], ['status', 'x'], ['plan', 'status'], ['add-client'], ['add-client', 'a', 'b'], ['add-client', '--help'], ['add-client', '--set', 'a=1', 'x'], ['toString'], ['constructor']]) {
    it(`leaves ${JSON.stringify(argv)} to yargs`, () => {
      expect(plainCommand(argv)).to.equal(undefined);
    });
  }
});
