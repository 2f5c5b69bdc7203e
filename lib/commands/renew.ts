// `renew`: re-issue certificates before they expire (same key, --rekey with an overlap window, --finish, --ca).
import { loadContext } from '../cli/context.js';
import { renew as renewal, type RenewArgs } from '../services/renewal.js';

export type { RenewArgs } from '../services/renewal.js';

export async function renew(args: RenewArgs): Promise<number> {
  // Unattended (--deploy): only problems are printed, one line each, unless -v asks for the steps.
  return renewal(loadContext(args.deploy && !args.verbose ? { ...args, quiet: true } : args), args);
}
