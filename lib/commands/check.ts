// `check [client|server|all]`: see lib/services/check.ts.
import { loadContext } from '../cli/context.js';
import { check as run, type CheckArgs } from '../services/check.js';

export type { CheckArgs } from '../services/check.js';

export async function check(args: CheckArgs): Promise<number> {
  return run(loadContext(args), args);
}
