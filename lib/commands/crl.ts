// `crl`: regenerate the CRL from the CA database before it expires.
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { crl as regenerate } from '../services/revocation.js';

export async function crl(args: GlobalArgs): Promise<number> {
  return regenerate(loadContext(args), args);
}
