// `renew`: re-issue certificates before they expire (same key, --rekey with an overlap window, --finish, --ca).
import { loadContext } from '../cli/context.js';
import { renew as renewal, type RenewArgs } from '../services/renewal.js';

export type { RenewArgs } from '../services/renewal.js';

export async function renew(args: RenewArgs): Promise<number> {
  return renewal(loadContext(args), args);
}
