// The undo record as apply.sh writes it: parsed when whole, refused when edited or damaged.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { parseUndoRecord, type UndoRecord } from '../../lib/remote/undo-record.js';

const body = [
  '# postfix-tls-relay: what mailhost.example.org had before the tool first changed it',
  'main-set relayhost = [smart.example]:587',
  'main-unset default_transport',
  'main-set smtp_fallback_relay =',
  'master-unset postfix-tls-relay/unix',
  'master-set 2500/inet 2500       inet  n       -       y       -       -       smtpd -o syslog_name=x',
].map((l) => `${l}\n`).join('');
const sealed = (text: string) => `${text}sha256 ${createHash('sha256').update(text).digest('hex')}\n`;

describe('undo record', function () {
  it('a whole record: each parameter and service with what the host had, or null', function () {
    const r = parseUndoRecord(sealed(body)) as UndoRecord;
    expect([...r.main]).to.deep.equal([['relayhost', 'relayhost = [smart.example]:587'], ['default_transport', null], ['smtp_fallback_relay', 'smtp_fallback_relay =']]);
    expect([...r.master]).to.deep.equal([['postfix-tls-relay/unix', null], ['2500/inet', '2500       inet  n       -       y       -       -       smtpd -o syslog_name=x']]);
  });

  it('an edited line, a missing or wrong sha256 line, or a line apply.sh does not write: refused', function () {
    const edited = sealed(body).replace('[smart.example]:587', '[evil.example]:25');
    expect(parseUndoRecord(edited)).to.deep.equal({ error: 'does not match its sha256 line (edited or damaged)' });
    expect(parseUndoRecord(body)).to.have.property('error');
    expect(parseUndoRecord('')).to.have.property('error');
    expect(parseUndoRecord(sealed(`${body}rm -rf /\n`))).to.deep.equal({ error: 'has a line that apply.sh does not write: "rm -rf /"' });
  });
});
