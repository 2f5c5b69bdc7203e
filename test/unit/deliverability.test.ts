// The pure parts of `dns` and of check --live's port-25 probe: the SPF record to publish, posttls-finger's
// output read as open / blocked / intercepted, ip(8)'s addresses. The lab test (hosts-deliverability) runs
// them against real DNS, Postfix and policyd-spf.
import { expect } from 'chai';
import { recordWith, spfRecords } from '../../lib/dns/spf-record.js';
import { port25Result } from '../../lib/remote/port25.js';
import { parseAddresses } from '../../lib/remote/relay-facts.js';

describe('dns: the SPF record to publish', () => {
  it('adds the relays before the all term, keeps every other sender, adds nothing twice', () => {
    expect(recordWith('v=spf1 mx include:_spf.example.net -all', ['203.0.113.5', '2001:db8::5'])).to.equal('v=spf1 mx include:_spf.example.net ip4:203.0.113.5 ip6:2001:db8::5 -all');
    expect(recordWith('v=spf1 ip4:203.0.113.5 ~all', ['203.0.113.5'])).to.equal('v=spf1 ip4:203.0.113.5 ~all');
    expect(recordWith('v=spf1 a redirect=_spf.example.net', ['203.0.113.5'])).to.equal('v=spf1 a ip4:203.0.113.5 redirect=_spf.example.net');
    expect(recordWith('v=spf1 a', ['203.0.113.5'])).to.equal('v=spf1 a ip4:203.0.113.5');
    expect(recordWith(undefined, ['203.0.113.5'])).to.equal('v=spf1 ip4:203.0.113.5 ~all');
  });

  it('finds the SPF records among TXT records, a long one joined from its strings', () => {
    expect(spfRecords([['google-site-verification=x'], ['v=spf1 ip4:192.0.2.1', ' -all'], ['v=spf10 x'], ['V=SPF1 -all']])).to.deep.equal(['v=spf1 ip4:192.0.2.1 -all', 'V=SPF1 -all']);
  });
});

describe('check --live: posttls-finger output read as open, blocked or intercepted', () => {
  const out = (lines: string[], exit = 0) => ({ out: lines.map((l) => `posttls-finger: ${l}`).join('\n'), exit });

  it('open: the banner names the host dialled (or its domain)', () => {
    const r = port25Result(out(['Connected to mx.dest.test[10.0.0.7]:25', '< 220 mx.dest.test ESMTP Postfix (Debian/GNU)', '> EHLO office2.hq.test', '< 250 8BITMIME', '> QUIT', '< 221 2.0.0 Bye']));
    expect(r).to.include({ state: 'open', dialled: 'mx.dest.test', banner: 'mx.dest.test' });
    expect(port25Result(out(['Connected to gmail-smtp-in.l.google.com[192.0.2.9]:25', '< 220 mx.google.com ESMTP x'])).state).to.equal('open');
  });

  it('intercepted: the banner names a host of another domain', () => {
    const r = port25Result(out(['Connected to mailly.debian.org[192.0.2.8]:25', '< 220 ypsmtpproxy01.t-mobile.nl ESMTP Postfix']));
    expect(r).to.include({ state: 'intercepted', banner: 'ypsmtpproxy01.t-mobile.nl' });
  });

  it('blocked: refused, reset or timed out; unknown without posttls-finger', () => {
    for (const why of ['Connection refused', 'Connection timed out', 'Connection reset by peer']) {
      const r = port25Result(out([`Failed to establish session to [mx.dest.test]:25 via mx.dest.test[10.0.0.7]: connect to mx.dest.test[10.0.0.7]:25: ${why}`]));
      expect(r, why).to.include({ state: 'blocked', detail: `connect to mx.dest.test[10.0.0.7]:25: ${why}` });
    }
    expect(port25Result({ out: 'sh: 1: posttls-finger: not found', exit: 127 }).state).to.equal('unknown');
  });
});

describe('dns: a relay\'s own addresses from ip -o addr', () => {
  it('reads IPv4 and IPv6 addresses', () => {
    const text = '2: eth0    inet 10.231.47.4/24 scope global eth0\\       valid_lft forever preferred_lft forever\n2: eth0    inet6 2001:DB8::4/64 scope global \\       valid_lft forever';
    expect(parseAddresses(text)).to.deep.equal(['10.231.47.4', '2001:db8::4']);
  });
});
