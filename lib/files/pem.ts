// Is a file openssl wrote complete? openssl may exit 0 after a short write on a full disk, so an
// output is renamed into place only when it holds whole PEM blocks.
const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----\r?\n?/g;

export function isCompletePem(data: Buffer | string): boolean {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  let blocks = 0;
  let rest = text;
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2]!.split(/\r?\n/).filter((l) => !/^[A-Za-z-]+: /.test(l)).join(''); // skip legacy headers (Proc-Type, DEK-Info)
    if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return false;
    blocks++;
    rest = rest.replace(m[0], '');
  }
  return blocks > 0 && rest.trim() === '';
}
