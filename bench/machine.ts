// The machine a benchmark ran on, for the record in docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import os from 'node:os';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  openssl: string;
  gpg: string;
  make: string;
  sh: string;
  loadAverage: number[];
}

function firstLine(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout.split('\n')[0] ?? '').trim() : 'not found';
}

export function describeMachine(): Machine {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    openssl: firstLine(['openssl', 'version']),
    gpg: firstLine(['gpg', '--version']),
    make: firstLine(['make', '--version']),
    sh: firstLine(['readlink', '-f', '/bin/sh']),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
