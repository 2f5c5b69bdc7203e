// `deploy [client|server|all]`: see lib/services/deploy.ts.
import { loadContext } from '../cli/context.js';
import { deploy as run, type DeployArgs } from '../services/deploy.js';

export type { DeployArgs } from '../services/deploy.js';

export async function deploy(args: DeployArgs): Promise<number> {
  return run(loadContext(args), args);
}
