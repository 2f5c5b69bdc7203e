// `revoke <host>`: take a client off the relay's allowlist, revoke its certificate, regenerate the CRL.
import { loadContext } from '../cli/context.js';
import { revoke as revocation, type RevokeArgs } from '../services/revocation.js';

export type { RevokeArgs } from '../services/revocation.js';

export async function revoke(args: RevokeArgs): Promise<number> {
  return revocation(loadContext(args), args);
}
