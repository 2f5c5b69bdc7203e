// The tree shows the flow (docs/architecture.md): imports only go down the layers, there is no import
// cycle, commands are leaves, and no lib/ file is over 300 lines (the make-syntax parser excepted).
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../support/project.js';

const LIB = path.join(REPO_ROOT, 'lib');

/** Bottom to top; a module may import its own layer or a lower one. */
const LAYERS: string[][] = [
  ['errors.ts'],
  ['settings'],
  ['programs'],
  ['files'],
  ['secrets', 'postfix', 'ca', 'dns'],
  ['state'],
  ['plan'],
  ['runner'],
  ['remote'],
  ['cli/context.ts', 'cli/report.ts', 'cli/options.ts', 'cli/prompt.ts', 'cli/secret-prompt.ts'],
  ['services', 'export', 'monitoring'],
  ['commands'],
  ['cli/main.ts'],
];

function layerOf(rel: string): number {
  const i = LAYERS.findIndex((names) => names.some((n) => rel === n || rel.startsWith(`${n}/`)));
  if (i < 0) throw new Error(`${rel}: in no layer of this test; add it`);
  return i;
}

function libFiles(dir = LIB): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? libFiles(p) : e.name.endsWith('.ts') ? [path.relative(LIB, p)] : [];
  });
}

/** Static imports (`import … from`, `export … from`); lazy `await import()` of a command by the CLI is its job. */
function importsOf(rel: string): string[] {
  const text = fs.readFileSync(path.join(LIB, rel), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)].map((m) =>
    path.normalize(path.join(path.dirname(rel), m[1]!)).replace(/\.js$/, '.ts'));
}

describe('architecture of lib/', () => {
  const files = libFiles();
  const graph = new Map(files.map((f) => [f, importsOf(f)]));

  it('imports only go down the layers (settings → state → plan → runner → … → commands → cli)', () => {
    const upward = files.flatMap((f) => graph.get(f)!.filter((to) => layerOf(to) > layerOf(f)).map((to) => `${f} → ${to}`));
    expect(upward).to.deep.equal([]);
  });

  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, stack: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...stack.slice(stack.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const to of graph.get(f) ?? []) visit(to, [...stack, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).to.deep.equal([]);
  });

  it('commands are leaves: no command imports another', () => {
    const cross = files.filter((f) => f.startsWith('commands/')).flatMap((f) => graph.get(f)!.filter((to) => to.startsWith('commands/')).map((to) => `${f} → ${to}`));
    expect(cross).to.deep.equal([]);
  });

  it('no file is over 300 lines (settings/makefile.ts, one cohesive parser, excepted)', () => {
    const long = files.filter((f) => f !== path.join('settings', 'makefile.ts'))
      .map((f) => ({ f, n: fs.readFileSync(path.join(LIB, f), 'utf8').split('\n').length - 1 }))
      .filter((x) => x.n > 300)
      .map((x) => `${x.f}: ${x.n} lines`);
    expect(long).to.deep.equal([]);
  });

  it('only the state owner and the runner read the project\'s CA database, certificates and records', () => {
    const readers = files.filter((f) => /\bparseIndex\(|\bparseRotations\(|Records\.load\(/.test(fs.readFileSync(path.join(LIB, f), 'utf8')));
    expect(readers.filter((f) => !f.startsWith('state/') && !f.startsWith('ca/'))).to.deep.equal([]);
  });
});
