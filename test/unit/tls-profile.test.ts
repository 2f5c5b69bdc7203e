// relay_tls_profile (issue 30) as data: the relay's -o overrides and the client's parameters per profile and
// Postfix version, the client's exclusions expanded by the real openssl to exactly the relay's suites,
// apply.sh choosing by mail_version, check comparing the version's syntax, check --live judging what was
// negotiated, and a bad value refused in one line with exit 2.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyContext } from '../../lib/plan/bundle.js';
import { CLIENT_EXCLUDED_CIPHERS, RELAY_TLS12_SUITES, clientConfig, relayConfig, takesProtocolRange } from '../../lib/postfix/config.js';
import { renderEjs } from '../../lib/files/render.js';
import { evaluate } from '../../lib/remote/compare.js';
import { negotiatedCheck, parseNegotiated } from '../../lib/remote/negotiated.js';
import type { Probe } from '../../lib/remote/probe.js';
import { loadSettings, type Settings } from '../../lib/settings/index.js';
import { CLI } from '../support/project.js';

const BASE = ['domain := example.org', 'smtp_client_hostname := mailhost', 'smtpd_server_hostname := relayhost'];

function withProject<T>(extra: string[], fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-tlsprof-'));
  writeFileSync(path.join(dir, 'settings.mk'), [...BASE, ...extra, ''].join('\n'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const settings = (extra: string[] = []): Settings => withProject(extra, (dir) => loadSettings({ projectDir: dir }));
const byName = (ps: readonly { name: string; value: string }[]) => Object.fromEntries(ps.map((p) => [p.name, p.value]));

describe('relay_tls_profile', function () {
  it('intermediate by default: the relay service gets the AEAD ECDHE list, medium grade, the server order, TLS 1.2+ in both syntaxes', function () {
    const s = settings();
    expect(s.relayTlsProfile).to.equal('intermediate');
    const r = relayConfig(s);
    expect(byName(r.overrides)).to.include({
      smtpd_tls_mandatory_ciphers: 'medium',
      smtpd_tls_ciphers: 'medium',
      tls_medium_cipherlist: RELAY_TLS12_SUITES.join(':'),
      tls_preempt_cipherlist: 'yes',
    });
    expect(r.overrides.map((p) => p.name)).to.not.include('smtpd_tls_mandatory_protocols');
    expect(byName(r.protocols.ranged)).to.deep.equal({ smtpd_tls_mandatory_protocols: '>=TLSv1.2', smtpd_tls_protocols: '>=TLSv1.2' });
    expect(byName(r.protocols.excluded)).to.deep.equal({ smtpd_tls_mandatory_protocols: '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1', smtpd_tls_protocols: '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1' });
    for (const p of [...r.overrides, ...r.protocols.ranged, ...r.protocols.excluded]) expect(p.value, p.name).to.not.match(/\s/);
    for (const suite of RELAY_TLS12_SUITES) expect(suite).to.match(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  });

  it('modern: TLS 1.3 only on the relay and on the client, ">=TLSv1.3" for Postfix 3.6+, the exclusion list before', function () {
    const s = settings(['relay_tls_profile := modern']);
    const r = relayConfig(s);
    const c = clientConfig(s, s.clients[0]!);
    expect(byName(r.protocols.ranged).smtpd_tls_mandatory_protocols).to.equal('>=TLSv1.3');
    expect(byName(r.protocols.excluded).smtpd_tls_mandatory_protocols).to.equal('!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2');
    expect(c.protocols).to.deep.equal({
      ranged: [{ name: 'smtp_tls_mandatory_protocols', value: '>=TLSv1.3' }],
      excluded: [{ name: 'smtp_tls_mandatory_protocols', value: '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2' }],
    });
    expect(['3.5.25', '3.4.0', '2.11.3'].map(takesProtocolRange)).to.deep.equal([false, false, false]);
    expect(['3.6.0', '3.7.11', '3.10.1', '4.0'].map(takesProtocolRange)).to.deep.equal([true, true, true, true]);
  });

  it('the client\'s exclusions from "high" leave exactly the relay\'s TLS 1.2 suites (this machine\'s openssl)', function () {
    const high = execFileSync('postconf', ['-dh', 'tls_high_cipherlist'], { encoding: 'utf8' }).trim();
    const list = [high, ...CLIENT_EXCLUDED_CIPHERS.split(/[\s,]+/).map((x) => `!${x}`), '@SECLEVEL=0'].join(':');
    const suites = execFileSync('openssl', ['ciphers', '-s', '-tls1_2', list], { encoding: 'utf8' }).trim().split(':');
    expect([...suites].sort()).to.deep.equal([...RELAY_TLS12_SUITES].sort());
  });

  it('apply.sh chooses the protocol syntax by mail_version, for both roles', async function () {
    const s = settings(['relay_tls_profile := modern']);
    for (const host of [s.server, s.clients[0]!]) {
      const text = await renderEjs('apply.sh.ejs', applyContext(s, host));
      execFileSync('sh', ['-n'], { input: text });
      expect(text).to.include('[ "$minor" -ge 6 ]; }; then protocol_range=yes; else protocol_range=no; fi');
      expect(text).to.include('relay_tls_profile = modern');
      expect(text).to.match(/if \[ "\$protocol_range" = yes \]; then\n.*>=TLSv1\.3.*\n(.*\n)?else\n.*!SSLv2,!SSLv3,!TLSv1,!TLSv1\.1,!TLSv1\.2/);
    }
  });

  it('check compares the protocols in the syntax of the host\'s Postfix, like every other parameter', function () {
    const s = settings(['relay_tls_profile := modern']);
    const svc = '2500/inet';
    const probe = (version: string, protocols: string): Probe => new Map([
      ['mail_version', { out: `${version}\n`, exit: 0 }],
      ['master', { out: `2500 inet n - n - - smtpd\n`, exit: 0 }],
      ['overrides', { out: `${svc}/smtpd_tls_mandatory_protocols = ${protocols}\n${svc}/tls_preempt_cipherlist = yes\n`, exit: 0 }],
    ]);
    const result = (version: string, protocols: string) => {
      const all = evaluate(s, s.server, probe(version, protocols), () => Buffer.alloc(0));
      return Object.fromEntries(all.filter((c) => /smtpd_tls_mandatory_protocols|tls_preempt_cipherlist|tls_medium_cipherlist/.test(c.name)).map((c) => [c.name.split(' ').at(-1), c.ok]));
    };
    expect(result('3.7.11', '>=TLSv1.3')).to.deep.equal({ smtpd_tls_mandatory_protocols: true, tls_preempt_cipherlist: true, tls_medium_cipherlist: false });
    expect(result('3.7.11', '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2').smtpd_tls_mandatory_protocols).to.equal(false);
    expect(result('3.5.6', '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2').smtpd_tls_mandatory_protocols).to.equal(true);
    expect(result('3.5.6', '>=TLSv1.2').smtpd_tls_mandatory_protocols).to.equal(false);
  });

  it('check --live reports the negotiated protocol and suite, judged by the profile', function () {
    const relay = settings().server;
    const line = (proto: string, cipher: string) => ({ out: `posttls-finger: relayhost.example.org[192.0.2.1]:2500: Matched subjectAltName: relayhost.example.org\nposttls-finger: Verified TLS connection established to relayhost.example.org[192.0.2.1]:2500: ${proto} with cipher ${cipher} (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256\n`, exit: 0 });
    expect(parseNegotiated(line('TLSv1.3', 'TLS_AES_256_GCM_SHA384').out)).to.deep.equal({ protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', details: 'key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256' });
    const v13 = negotiatedCheck('modern', relay, line('TLSv1.3', 'TLS_AES_256_GCM_SHA384'));
    expect(v13).to.deep.include({ ok: true, expected: 'TLSv1.3' });
    expect(v13.actual).to.match(/^TLSv1\.3 with TLS_AES_256_GCM_SHA384 \(key-exchange X25519/);
    expect(v13.name).to.equal('negotiated TLS with [relayhost.example.org]:2500 (relay_tls_profile = modern)');
    expect(negotiatedCheck('modern', relay, line('TLSv1.2', 'ECDHE-ECDSA-AES256-GCM-SHA384')).ok).to.equal(false);
    expect(negotiatedCheck('intermediate', relay, line('TLSv1.2', 'ECDHE-ECDSA-AES256-GCM-SHA384')).ok).to.equal(true);
    expect(negotiatedCheck('intermediate', relay, line('TLSv1.2', 'ECDHE-RSA-AES256-SHA384')).ok).to.equal(false);
    expect(negotiatedCheck('intermediate', relay, { out: 'posttls-finger: Failed to establish session\n', exit: 0 })).to.deep.include({ ok: false });
  });

  it('a bad value: one line naming the setting, exit 2', function () {
    withProject(['relay_tls_profile := old'], (dir) => {
      const r = spawnSync(process.execPath, [CLI, 'plan', '-C', dir], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      expect(r.status, r.stderr).to.equal(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).to.have.length(1);
      expect(lines[0]).to.match(/relay_tls_profile/).and.match(/"old" is not one of intermediate, modern/);
    });
  });
});
