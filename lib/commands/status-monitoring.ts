// `status --format prometheus [-o FILE]` and `status --nagios`: see lib/services/status-monitoring.ts.
import { loadContext } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { PLUGIN_CODES, unknownResult } from '../monitoring/nagios.js';
import { statusNagios, statusPrometheus, type MonitoringArgs } from '../services/status-monitoring.js';

export type { MonitoringArgs } from '../services/status-monitoring.js';

export function wantsMonitoring(args: MonitoringArgs): boolean {
  return Boolean(args.nagios) || args.format === 'prometheus' || args.output !== undefined;
}

export async function statusMonitoring(args: MonitoringArgs): Promise<number> {
  if (args.nagios) {
    let r;
    if (args.format === 'prometheus' || args.output !== undefined) r = unknownResult('--nagios prints a plugin line; it cannot be combined with --format prometheus or --output');
    else {
      try {
        r = await statusNagios(loadContext({ ...args, quiet: true }), args);
      } catch (err) {
        r = unknownResult(`cannot read the project: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    process.stdout.write(`${r.line}\n`);
    return r.code ?? PLUGIN_CODES.UNKNOWN;
  }
  if (args.format !== 'prometheus') throw new UsageError('--output: only with --format prometheus (the text and --json forms go to stdout)');
  if (args.json || args.check) throw new UsageError('--format prometheus: cannot be combined with --json or --check');
  return statusPrometheus(loadContext(args), args);
}
