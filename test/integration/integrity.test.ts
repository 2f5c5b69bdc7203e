// Generated files changed outside the tool (issue 14, item 1), on the real openssl and gpg: the tool
// records the digest of everything it renders or copies, repairs a changed file before using it (without
// re-issuing anything made from it), reports it in `status --check`, and never ships a changed bundle.
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { createTestGpg, type TestGpg } from '../support/gpg.js';
import { createProject, settingsText, type TestProject } from '../support/project.js';

const RELAY = 'relayhost.example.test';
const CLIENT = 'mailhost.example.test';
const ALLOWLIST = 'etc/postfix/relay_clientcerts';
const RELAY_TABLE = `out/${RELAY}/root/etc/postfix/relay_clientcerts`;
const APPLY = `out/${CLIENT}/apply.sh`;
const APPLY_COPY = `out/${CLIENT}/root/etc/postfix-tls-based-relaying/apply-smtp-client.sh`;
const CA_CONF = 'certs/ca/openssl-ca.cnf';
const LEAF_CONF = `certs/smtp-client/${CLIENT}.cnf`;

interface BuildJson {
  commands: string[];
  steps: { id: string; state: string }[];
}

describe('generated files changed outside the tool (real openssl and gpg)', function () {
  let gpg: TestGpg;
  let p: TestProject;
  const built = new Map<string, Buffer>();
  const read = (rel: string) => fs.readFileSync(p.file(rel));
  const build = (): BuildJson => {
    const r = p.cli(['build', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as BuildJson;
  };
  const ran = (b: BuildJson) => b.steps.filter((s) => s.state === 'ran').map((s) => s.id);

  before(function () {
    gpg = createTestGpg();
    p = createProject({ gpg, settings: (pass) => settingsText(pass, 'smtp_client_hostnames := backup') });
    build();
    for (const f of [ALLOWLIST, RELAY_TABLE, APPLY, APPLY_COPY, CA_CONF, LEAF_CONF]) built.set(f, read(f));
  });
  after(function () {
    p?.dispose();
    gpg?.dispose();
  });

  afterEach(function () {
    // Every case leaves the project as built.
    for (const [f, data] of built) expect(read(f).equals(data), `${f} is as built`).to.equal(true);
  });

  it('a line deleted from the allowlist: status --check names it, build puts it back, the relay bundle never gets the edited one', function () {
    const lines = read(ALLOWLIST).toString().split('\n');
    fs.writeFileSync(p.file(ALLOWLIST), lines.filter((l) => !l.endsWith(CLIENT)).join('\n'));
    const st = p.cli(['status', '--check', '-q']);
    expect(st.code).to.equal(1);
    expect(st.stderr).to.include(`${ALLOWLIST}: changed outside the tool`);
    const b = build();
    expect(ran(b)).to.deep.equal(['allowlist']);
    expect(b.commands).to.deep.equal([]); // nothing re-issued, no gpg
    expect(p.cli(['status', '--check', '-q']).stderr).not.to.include('changed outside');
  });

  it('a line appended to the relay bundle\'s allowlist: deploy -n says not ready, deploy refuses naming the file, build repairs it', function () {
    fs.appendFileSync(p.file(RELAY_TABLE), 'AA:BB:CC attacker.example.test\n');
    const dry = p.cli(['deploy', 'server', '-n', '--json']);
    expect(dry.code).to.equal(0);
    expect((JSON.parse(dry.stdout) as { ready: boolean }).ready).to.equal(false);
    expect(dry.stderr).to.include(RELAY_TABLE);
    const real = p.cli(['deploy', 'server']);
    expect(real.code).to.equal(1);
    expect(real.stderr.trim().split('\n')).to.have.length(1);
    expect(real.stderr).to.include(RELAY_TABLE).and.include('changed outside the tool');
    expect(p.cli(['status', '--check', '-q']).stderr).to.include(`${RELAY_TABLE}: changed outside the tool`);
    expect(ran(build())).to.deep.equal([`bundle-allowlist:${RELAY}`]);
  });

  it('an edited apply.sh (rendered and copied): both are made again, and deploy refuses meanwhile', function () {
    fs.appendFileSync(p.file(APPLY_COPY), 'id > /tmp/owned\n');
    fs.appendFileSync(p.file(APPLY), 'id > /tmp/owned\n');
    const real = p.cli(['deploy', 'client']);
    expect(real.code).to.equal(1);
    expect(real.stderr).to.include(APPLY).and.include('changed outside the tool');
    expect(ran(build()).sort()).to.deep.equal([`apply:${CLIENT}`, `bundle-apply:${CLIENT}`]);
  });

  it('a bundle file with the same bytes as built but a new time (touch) is not a change', function () {
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(p.file(RELAY_TABLE), t, t);
    expect(p.cli(['status', '--check', '-q']).stderr).not.to.include('changed outside');
    expect(build().commands).to.deep.equal([]);
  });

  it('openssl-ca.cnf with default_days = 36500: renew issues for the settings\' days, and build repairs it without re-issuing', function () {
    const conf = read(CA_CONF).toString();
    fs.writeFileSync(p.file(CA_CONF), conf.replace(/^default_days\s*=.*$/m, 'default_days = 36500'));
    expect(p.cli(['status', '--check', '-q']).stderr).to.include(`${CA_CONF}: changed outside the tool`);
    const r = p.cli(['renew', CLIENT, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const cert = new X509Certificate(read(`certs/smtp-client/${CLIENT}.crt.pem`));
    const days = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).to.be.below(400); // the default 365, not 36500
    built.set(ALLOWLIST, read(ALLOWLIST)); // renewal with the same key keeps the fingerprint; kept as the new baseline anyway
    for (const f of [RELAY_TABLE, APPLY, APPLY_COPY]) built.set(f, read(f));
  });

  it('an edited host request config is repaired, and the certificate made from it is not re-issued', function () {
    fs.appendFileSync(p.file(LEAF_CONF), '\n# local note\n');
    const b = build();
    expect(ran(b)).to.deep.equal([`config:${CLIENT}`]);
    expect(b.commands).to.deep.equal([]);
    expect(build().steps.every((s) => s.state === 'skipped')).to.equal(true);
  });
});
