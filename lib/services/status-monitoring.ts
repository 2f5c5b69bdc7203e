// The status facts for monitoring systems: Prometheus textfile metrics and the Nagios/Icinga plugin line.
import path from 'node:path';
import type { Context, GlobalArgs } from '../cli/context.js';
import { writeFileAtomic } from '../files/atomic.js';
import { fsFailure } from '../errors.js';
import { loadDeployments } from '../remote/deployments.js';
import { readProjectState } from '../state/project.js';
import { collectStatus, keepLearned } from './status.js';
import { unknownResult } from '../monitoring/nagios.js';
import { prometheusMetrics } from '../monitoring/prometheus.js';
import { statusPlugin } from '../monitoring/status-plugin.js';
import { thresholdsOf } from '../monitoring/thresholds.js';
import { toolVersion } from '../monitoring/version.js';

export interface MonitoringArgs extends GlobalArgs {
  warnDays?: number;
  crlWarnDays?: number;
  check?: boolean;
  format?: 'text' | 'prometheus';
  output?: string;
  nagios?: boolean;
  critDays?: number;
}

/** Plugin mode: whatever goes wrong, one UNKNOWN line and exit 3, never a stack or exit 1/2. */
export async function statusNagios(ctx: Context, args: MonitoringArgs): Promise<{ code: number; line: string }> {
  try {
    const t = thresholdsOf(args.warnDays, args.critDays);
    const crlWarnDays = args.crlWarnDays ?? 7;
    const state = readProjectState(ctx.settings);
    const st = collectStatus(state, Date.now(), { warnDays: t.warnDays, crlWarnDays });
    const r = statusPlugin(ctx.settings, st, t, crlWarnDays, [...state.revoked()]);
    await keepLearned(state);
    return r;
  } catch (err) {
    return unknownResult(`cannot read the project: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The textfile collector reads *.prom files; written whole (temp file in the same directory, rename). */
export async function statusPrometheus(ctx: Context, args: MonitoringArgs): Promise<number> {
  const state = readProjectState(ctx.settings);
  const st = collectStatus(state, Date.now(), { warnDays: args.warnDays, crlWarnDays: args.crlWarnDays });
  await keepLearned(state);
  const text = prometheusMetrics({ settings: ctx.settings, status: st, deployments: loadDeployments(ctx.projectDir), version: toolVersion() });
  if (!args.output || args.output === '-') {
    process.stdout.write(text);
    return 0;
  }
  const file = path.resolve(args.output);
  if (!file.endsWith('.prom')) ctx.report.warn(`${args.output}: the node_exporter textfile collector reads only files named *.prom`);
  try {
    writeFileAtomic(file, text, 0o644);
  } catch (err) {
    throw fsFailure(err, args.output);
  }
  return 0;
}
