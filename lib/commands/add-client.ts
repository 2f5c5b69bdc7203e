// `add-client <host>`: see lib/services/add-client.ts.
import { loadContext } from '../cli/context.js';
import { addClient as add, type AddClientArgs } from '../services/add-client.js';

export type { AddClientArgs } from '../services/add-client.js';

export async function addClient(args: AddClientArgs): Promise<number> {
  return add(loadContext(args), args);
}
