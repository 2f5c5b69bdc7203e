// Random secrets built straight into a Buffer, so that the caller can wipe them after use (a JS string
// could not be overwritten).
import { randomBytes } from 'node:crypto';

const ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');

/** `length` characters from a 64-letter alphabet (6 bits each, unbiased), then a newline for `-pass stdin`. */
export function randomPassphrase(length = 43): Buffer {
  const bytes = randomBytes(length);
  const out = Buffer.alloc(length + 1);
  for (let i = 0; i < length; i++) out[i] = ALPHABET[bytes[i]! & 63]!;
  out[length] = 0x0a;
  bytes.fill(0);
  return out;
}
