// The real promtool (Debian package prometheus) on our output, and a small reader of the text format
// to look values up by metric name and labels.
import { spawnSync } from 'node:child_process';

export function promtool(args: string[], input?: string): { code: number; output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string): PromSample[] {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
    if (!m) throw new Error(`not a sample line: ${l}`);
    const labels: Record<string, string> = {};
    for (const x of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[x[1]!] = x[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    return { name: m[1]!, labels, value: Number(m[3]) };
  });
}

/** The one sample of `name` whose labels include `labels`; throws when there is not exactly one. */
export function valueOf(samples: PromSample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name}${JSON.stringify(labels)}`);
  return found[0]!.value;
}
