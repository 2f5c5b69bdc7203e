// What a benchmark section is and returns, and the ratio check the targets are stated in.
import { bootstrap, median, times, type Sample } from './harness.js';
import type { Workspace } from './fixtures.js';

export interface Row {
  readonly sample: Sample;
  readonly note?: string;
}

export interface Check {
  readonly name: string;
  readonly value: string;
  readonly target: string;
  readonly ok: boolean;
  /** 95 % bootstrap interval of the value, and whether it lies wholly on one side of the target. */
  readonly interval?: { readonly text: string; readonly decisive: boolean };
}

/** A ratio check `a / b ≤ limit` (or `≥` with `atLeast`) with its bootstrap interval. */
export function ratioCheck(name: string, a: readonly number[], b: readonly number[], limit: number, atLeast = false): Check {
  const r = median(a) / median(b);
  const [lo, hi] = bootstrap([a, b], ([x, y]) => x! / y!);
  const ok = atLeast ? r >= limit : r <= limit;
  return {
    name, value: times(r), target: `${atLeast ? '≥' : '≤'} ${times(limit)}`, ok,
    interval: { text: `${times(lo)}–${times(hi)}`, decisive: atLeast ? lo >= limit || hi < limit : hi <= limit || lo > limit },
  };
}

export interface SectionResult {
  readonly id: string;
  readonly title: string;
  readonly runs: number;
  readonly rows: Row[];
  readonly checks: Check[];
  readonly notes: string[];
  readonly loadAverage: number[];
}

export interface Options {
  runs?: number;
  quick: boolean;
  seedDir: string;
}

export interface Section {
  readonly id: string;
  /** Timed runs: [full, quick]. */
  readonly runs: readonly [number, number];
  run(ws: Workspace, runs: number, opts: Options): Omit<SectionResult, 'id' | 'runs' | 'loadAverage'> | undefined;
}

