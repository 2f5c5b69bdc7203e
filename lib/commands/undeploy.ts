// `undeploy HOST…`: see lib/services/undeploy.ts.
import { loadContext } from '../cli/context.js';
import { undeploy as run, type UndeployArgs } from '../services/undeploy.js';

export type { UndeployArgs } from '../services/undeploy.js';

export async function undeploy(args: UndeployArgs): Promise<number> {
  return run(loadContext(args), args);
}
