// `check [client|server|all]`: see lib/services/check.ts.
import { loadContext } from '../cli/context.js';
import { check as run, type CheckArgs } from '../services/check.js';

export type { CheckArgs } from '../services/check.js';

export async function check(args: CheckArgs): Promise<number> {
  // Plugin mode prints only its status line.
  return run(loadContext(args.nagios ? { ...args, quiet: true } : args), args);
}
