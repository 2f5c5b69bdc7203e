// "Nothing can be stale": once a build found everything up to date (and a second has passed), the next
// plain build makes no plan. Every kind of change must still be seen: a generated file edited in place
// (same size), a key's mode, a temp file a killed run left, a group-writable file, a setting.
import { expect } from 'chai';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { useProject } from '../support/project.js';

const QUICK = 'nothing changed since the last build found every step up to date';
const RELAY_APPLY = 'out/relayhost.example.test/apply.sh';
const KEY = 'certs/smtp-client/mailhost.example.test.key.pem';
const settle = () => new Promise((r) => setTimeout(r, 1100)); // past the one-second racy window

describe('a build with nothing to do after an up-to-date build', function () {
  this.timeout(60_000);
  const fx = useProject();
  const build = (...args: string[]) => {
    const r = fx.p.cli(['build', ...args]);
    expect(r.code, r.stderr).to.equal(0);
    return r;
  };
  /** Builds until the project is remembered as up to date (a build, a second, a build), then a second more. */
  const settled = async () => {
    build('-q');
    await settle();
    build('-q');
    expect(existsSync(fx.p.file('.postfix-tls-relay/up-to-date.json'))).to.equal(true);
    await settle();
  };

  it('makes no plan when nothing changed, and says so with -v; the same steps are listed', async () => {
    await settled();
    const r = build('-v');
    expect(r.stderr).to.include(QUICK);
    expect(r.stderr).to.match(/^up to date  CA key certs\/ca\/example\.test-ca\.key\.pem$/m);
    expect(r.stderr.trimEnd().split('\n').pop()).to.match(/^nothing to do: \d+ step\(s\) up to date/);
    const plan = fx.p.cli(['plan']);
    expect(plan.stdout).to.match(/^nothing to do in /m);
  });

  it('sees a generated file changed in place with the same size, and puts it back', async () => {
    await settled();
    const was = readFileSync(fx.p.file(RELAY_APPLY), 'utf8');
    writeFileSync(fx.p.file(RELAY_APPLY), was.replace('#!/bin/sh', '#!/bin/XX'));
    await settle();
    const r = build('-v');
    expect(r.stderr).to.not.include(QUICK);
    expect(r.stderr).to.include(`${RELAY_APPLY} was changed outside the tool`);
    expect(readFileSync(fx.p.file(RELAY_APPLY), 'utf8')).to.equal(was);
  });

  it('sees a key made readable by others, and narrows it', async () => {
    await settled();
    chmodSync(fx.p.file(KEY), 0o644);
    const r = build();
    expect(r.stderr).to.include(`${KEY}: a private key with mode 0644; set back to 0600`);
    expect(statSync(fx.p.file(KEY)).mode & 0o777).to.equal(0o600);
  });

  it('removes a temp file a killed run left, and refuses a file others can write', async () => {
    await settled();
    const temp = 'certs/smtp-client/.mailhost.example.test.crt.pem.tmp';
    writeFileSync(fx.p.file(temp), 'half');
    build('-q');
    expect(existsSync(fx.p.file(temp))).to.equal(false);
    await settled();
    chmodSync(fx.p.file(RELAY_APPLY), 0o775);
    const r = fx.p.cli(['build', '-q']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`${RELAY_APPLY}: writable by its group`);
    chmodSync(fx.p.file(RELAY_APPLY), 0o755);
  });

  it('sees a changed setting', async () => {
    await settled();
    const r = fx.p.cli(['plan', '--set', 'smtpd_server_port=2526']);
    expect(r.stdout).to.not.match(/^nothing to do in /m);
    expect(r.stdout).to.match(/would run {3}apply script out\/relayhost\.example\.test\/apply\.sh/);
  });
});
