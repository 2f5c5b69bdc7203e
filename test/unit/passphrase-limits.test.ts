// The passphrase limits openssl imposes (-pass stdin: one line, at most 1023 bytes, up to a NUL), and
// that init never generates a passphrase outside them.
import { expect } from 'chai';
import { MAX_PASSPHRASE_BYTES, passphraseProblem } from '../../lib/secrets/passphrase.js';
import { randomPassphrase } from '../../lib/secrets/random.js';

describe('passphrase limits', () => {
  it('every generated passphrase is within them', () => {
    for (let i = 0; i < 200; i++) expect(passphraseProblem(randomPassphrase())).to.equal(undefined);
  });

  it('1023 bytes on the first line pass; 1024 are refused with the limit named', () => {
    expect(passphraseProblem(Buffer.from(`${'a'.repeat(MAX_PASSPHRASE_BYTES)}\n`))).to.equal(undefined);
    expect(passphraseProblem(Buffer.from(`${'a'.repeat(1024)}\n`))).to.match(/first line of 1024 bytes; openssl reads at most 1023/);
    // Only the first line counts, as for openssl.
    expect(passphraseProblem(Buffer.from(`abcdef\n${'a'.repeat(5000)}\n`))).to.equal(undefined);
  });

  it('a NUL on the first line is refused; fewer than 4 bytes too', () => {
    expect(passphraseProblem(Buffer.from('abcd\0efgh\n'))).to.match(/NUL byte/);
    expect(passphraseProblem(Buffer.from('abc\n'))).to.match(/shorter than 4/);
  });
});
