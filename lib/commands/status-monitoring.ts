// `status --format prometheus [-o FILE]` and `status --nagios`: the status facts for monitoring systems.
import path from 'node:path';
import { loadContext } from '../cli/context.js';
import { revokedSerials } from '../ca/database.js';
import { writeFileAtomic } from '../files/atomic.js';
import { fsFailure, UsageError } from '../errors.js';
import { loadDeployments } from '../remote/deployments.js';
import { collectStatus } from '../state/status.js';
import { PLUGIN_CODES, unknownResult } from '../monitoring/nagios.js';
import { prometheusMetrics } from '../monitoring/prometheus.js';
import { statusPlugin } from '../monitoring/status-plugin.js';
import { thresholdsOf } from '../monitoring/thresholds.js';
import { toolVersion } from '../monitoring/version.js';
import type { GlobalArgs } from '../cli/context.js';

export interface MonitoringArgs extends GlobalArgs {
  warnDays?: number;
  crlWarnDays?: number;
  check?: boolean;
  format?: 'text' | 'prometheus';
  output?: string;
  nagios?: boolean;
  critDays?: number;
}

export function wantsMonitoring(args: MonitoringArgs): boolean {
  return Boolean(args.nagios) || args.format === 'prometheus' || args.output !== undefined;
}

/** Plugin mode: whatever goes wrong, one UNKNOWN line and exit 3, never a stack or exit 1/2. */
export function statusNagios(args: MonitoringArgs): number {
  let r;
  try {
    const t = thresholdsOf(args.warnDays, args.critDays);
    const ctx = loadContext({ ...args, quiet: true });
    const crlWarnDays = args.crlWarnDays ?? 7;
    const st = collectStatus(ctx.settings, Date.now(), { warnDays: t.warnDays, crlWarnDays });
    r = statusPlugin(ctx.settings, st, t, crlWarnDays, [...revokedSerials(ctx.projectDir, ctx.settings)]);
  } catch (err) {
    r = unknownResult(`cannot read the project: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.stdout.write(`${r.line}\n`);
  return r.code;
}

/** The textfile collector reads *.prom files; written whole (temp file in the same directory, rename). */
export function statusPrometheus(args: MonitoringArgs): number {
  const ctx = loadContext(args);
  const st = collectStatus(ctx.settings, Date.now(), { warnDays: args.warnDays, crlWarnDays: args.crlWarnDays });
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

export function statusMonitoring(args: MonitoringArgs): number {
  if (args.nagios) {
    if (args.format === 'prometheus' || args.output !== undefined) {
      process.stdout.write(`${unknownResult('--nagios prints a plugin line; it cannot be combined with --format prometheus or --output').line}\n`);
      return PLUGIN_CODES.UNKNOWN;
    }
    return statusNagios(args);
  }
  if (args.format !== 'prometheus') throw new UsageError('--output: only with --format prometheus (the text and --json forms go to stdout)');
  if (args.json || args.check) throw new UsageError('--format prometheus: cannot be combined with --json or --check');
  return statusPrometheus(args);
}
