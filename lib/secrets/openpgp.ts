// What kind of OpenPGP data a passphrase file holds, from its first packet (RFC 4880 §4.2), read in-process:
// only a file encrypted to a public key keeps the passphrase from someone with an empty keyring.
export type OpenPgpKind = 'encrypted-to-key' | 'password-only' | 'signed' | 'plain' | 'not-openpgp';

function tagOf(first: number): number | undefined {
  if ((first & 0x80) === 0) return undefined;
  return first & 0x40 ? first & 0x3f : (first & 0x3c) >> 2;
}

/** The first byte of the binary data: as is, or decoded from ASCII armor. */
function firstByte(data: Buffer): number | 'clearsigned' | undefined {
  const head = data.subarray(0, 64).toString('latin1').trimStart();
  if (head.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) return 'clearsigned';
  if (!head.startsWith('-----BEGIN PGP ')) return data[0];
  // Armor: header lines, an empty line, then base64.
  const lines = data.toString('latin1').split(/\r?\n/);
  const blank = lines.findIndex((l, i) => i > 0 && l.trim() === '');
  const body = blank < 0 ? undefined : lines.slice(blank + 1).find((l) => l.trim() !== '');
  if (!body) return undefined;
  const bytes = Buffer.from(body.trim().slice(0, 4), 'base64');
  return bytes[0];
}

export function openPgpKind(data: Buffer): OpenPgpKind {
  const b = firstByte(data);
  if (b === 'clearsigned') return 'signed';
  const tag = b === undefined ? undefined : tagOf(b);
  switch (tag) {
    case 1: return 'encrypted-to-key'; // public-key encrypted session key
    case 3: return 'password-only'; // symmetric-key encrypted session key (gpg --symmetric)
    case 2: case 4: return 'signed'; // gpg --sign
    case 8: case 11: return 'plain'; // compressed or literal data (gpg --store)
    case undefined: return 'not-openpgp';
    default: return 'plain';
  }
}
