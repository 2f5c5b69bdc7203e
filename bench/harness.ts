// Timing: commands run as child processes, wall-clock from spawn to exit, repeated and interleaved
// (each round runs every subject once, in a rotating order) so that drift in machine load falls on
// all subjects alike. Only medians and ratios of medians are reported. CPU time (user + system of the
// whole process tree) is recorded too: on a busy machine it varies far less than wall time.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Invocation {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Something to time: `prepare` (untimed) makes a fresh setup and returns what to run in it. */
export interface Subject {
  readonly name: string;
  prepare(round: number): Invocation;
  /** Untimed check that the run really did its work, and cleanup. */
  after?(inv: Invocation): void;
  /** Runs per round (default 1): more samples of a cheap subject next to an expensive one. */
  readonly repeat?: number;
}

export interface Sample {
  readonly name: string;
  /** Wall time of each run, ms. */
  readonly ms: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Median CPU time (user + system, the command and everything it waited for), ms; 10 ms resolution. */
  readonly cpu: number;
}

export interface Timing {
  readonly ms: number;
  readonly cpuMs: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function sample(name: string, runs: readonly Timing[]): Sample {
  const ms = runs.map((r) => r.ms);
  return { name, ms, median: median(ms), min: Math.min(...ms), max: Math.max(...ms), cpu: median(runs.map((r) => r.cpuMs)) };
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU time of this process's waited-for children so far (cutime + cstime in /proc/self/stat), ms. */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS; // fields 16 and 17
}

/** Runs a command to completion; throws with its stderr when it fails. */
export function timed(inv: Invocation): Timing {
  const cpu0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(inv.argv[0]!, inv.argv.slice(1), { cwd: inv.cwd, env: inv.env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuMs = childrenCpuMs() - cpu0;
  if (r.error) throw new Error(`${inv.argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${inv.argv.join(' ')} (in ${inv.cwd}) exited ${r.status ?? r.signal}:\n${r.stderr.toString().trim()}`);
  return { ms, cpuMs };
}

/** `warmup` untimed rounds, then `runs` timed rounds, every subject once (or `repeat` times) per round. */
export function measure(subjects: readonly Subject[], runs: number, warmup = 1): Sample[] {
  const timings: Timing[][] = subjects.map(() => []);
  for (let round = 0; round < warmup + runs; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const i = (k + round) % subjects.length;
      const s = subjects[i]!;
      for (let r = 0; r < (s.repeat ?? 1); r++) {
        const inv = s.prepare(round);
        const t = timed(inv);
        s.after?.(inv);
        if (round >= warmup) timings[i]!.push(t);
      }
    }
  }
  return subjects.map((s, i) => sample(s.name, timings[i]!));
}

/**
 * 95 % bootstrap interval of `f(medians)`: every group of runs resampled with replacement. A fixed-seed
 * generator, so the same runs always give the same interval.
 */
export function bootstrap(groups: readonly (readonly number[])[], f: (medians: number[]) => number, rounds = 2000): [number, number] {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const resample = (xs: readonly number[]) => xs.map(() => xs[Math.floor(rand() * xs.length)]!);
  const values = Array.from({ length: rounds }, () => f(groups.map((g) => median(resample(g))))).sort((x, y) => x - y);
  return [values[Math.floor(rounds * 0.025)]!, values[Math.floor(rounds * 0.975)]!];
}

export const secs = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
/** A difference in seconds with its sign: +0.078 s, −0.243 s. */
export const signed = (ms: number) => `${ms >= 0 ? '+' : '−'}${secs(Math.abs(ms))}`;
export const times = (x: number) => `${x.toFixed(2)}×`;
