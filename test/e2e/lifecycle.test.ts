// The lifecycle against real Postfix (the lab: a client instance, the relay, a sink), configured only by
// the bundles' apply.sh: three clients relay; a renewed client keeps relaying without the relay being
// touched; a revoked client is refused; a new key rotates with mail flowing all the way; a renewed CA
// certificate needs no particular deploy order.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createLab, freePort, labPrerequisites, requirePrerequisites, swaks, waitForPort, type Lab } from '../support/lab.js';
import { labSettings } from '../support/lab-settings.js';
import { createProject, type TestProject } from '../support/project.js';
import { createTestGpg, type TestGpg } from '../support/gpg.js';
import { serialOf } from '../support/certs.js';

const D = 'example.test';
const RELAY = `relayhost.${D}`;
const MAIL = `mailhost.${D}`; // the lab's client instance runs as this host
const BACKUP = `backup.${D}`;
const THIRD = `third.${D}`;

const clientsLine = 'smtp_client_hostnames := backup third';

describe('e2e: lifecycle through real Postfix (renew, revoke, rekey, CA renewal)', function () {
  let lab: Lab;
  let gpg: TestGpg;
  let p: TestProject;
  let keep: string;

  const cli = (args: string[]) => {
    const r = p.cli(args);
    expect(r.code, `${args.join(' ')}\n${r.stderr}`).to.equal(0);
    return r.stdout;
  };
  const apply = async (fqdn: string) => {
    const out = execFileSync('sh', [p.file(`out/${fqdn}/apply.sh`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForPort(lab.relayPort);
    return out;
  };
  const files = (h: string) => ({ cert: p.file(`certs/smtp-client/${h}.crt.pem`), key: p.file(`certs/smtp-client/${h}.key.pem`) });
  /** Copies a client's current certificate and key aside (what a host still runs with before its deploy). */
  const snapshotClient = (h: string, name: string) => {
    const dst = { cert: path.join(keep, `${name}.crt.pem`), key: path.join(keep, `${name}.key.pem`) };
    fs.copyFileSync(files(h).cert, dst.cert);
    fs.copyFileSync(files(h).key, dst.key);
    return dst;
  };
  /** An SMTP session at the relay port as host `h`, presenting `tls`. */
  const asClient = (h: string, subject: string, tls: { cert: string; key: string }) =>
    swaks(['--server', '127.0.0.1', '--port', String(lab.relayPort), '--ehlo', h, '--from', `sender@${h}`, '--to', 'rcpt@example.org',
      '--header', `Subject: ${subject}`, '--timeout', '20', '--tls', '--tls-cert', tls.cert, '--tls-key', tls.key]);
  const accepted = /<~\s+250 2\.0\.0 Ok: queued/;
  const refused = /<~?\*+\s+554 5\.7\.1 .*Access denied/;
  /** Mail injected at the real client instance arrives at the sink through the relay. */
  const relaysFromClient = async (subject: string) => {
    await lab.inject({ from: `root@${MAIL}`, to: 'rcpt@example.org', subject });
    await lab.waitForDelivery(subject, 30_000);
  };
  const reloads = () => (lab.maillog('relay').match(/postfix\/master\[\d+\]: reload -- /g) ?? []).length;

  before(async function () {
    requirePrerequisites(this, labPrerequisites());
    lab = await createLab({ relayFqdn: RELAY, clientFqdns: [MAIL, BACKUP, THIRD], relayPort: await freePort() });
    await lab.start();
    gpg = createTestGpg();
    p = createProject({ gpg, settings: labSettings(lab, clientsLine) });
    keep = path.join(lab.root, 'kept');
    fs.mkdirSync(keep);
    cli(['build', '-q']);
    await apply(RELAY);
    await apply(MAIL);
  });

  after(async function () {
    await lab?.cleanup();
    p?.dispose();
    gpg?.dispose();
  });

  it('1. all three clients relay: the real client instance and the other two by their certificates', async function () {
    await relaysFromClient(`lc three ${Date.now()}`);
    for (const h of [BACKUP, THIRD]) {
      const subject = `lc ${h} ${Date.now()}`;
      const r = await asClient(h, subject, files(h));
      expect(r.output, r.output).to.match(accepted);
      await lab.waitForDelivery(subject, 30_000);
    }
  });

  it('2. a client renewed with the same key keeps relaying; the relay is neither changed nor reloaded', async function () {
    const installed = `${lab.root}/installed/relay_clientcerts`;
    const relayFile = { text: fs.readFileSync(installed, 'utf8'), mtime: fs.statSync(installed).mtimeMs };
    const relayConf = execFileSync('postconf', ['-c', lab.relayDir, '-P'], { encoding: 'utf8' });
    const reloadsBefore = reloads();
    const old = snapshotClient(MAIL, 'mail-before-renew');
    const r = JSON.parse(cli(['renew', MAIL, '--json']));
    expect(r.relayChanged).to.equal(false);
    expect(r.deploy).to.deep.equal([MAIL]);
    expect(serialOf(files(MAIL).cert)).to.not.equal(serialOf(old.cert));
    await apply(MAIL); // only the client
    const clientCert = `${lab.root}/installed/smtp-client/${MAIL}.crt.pem`;
    expect(serialOf(clientCert)).to.equal(serialOf(files(MAIL).cert));
    const mark = lab.logMark('relay');
    await relaysFromClient(`lc renewed ${Date.now()}`);
    await lab.waitForLog('relay', /Trusted TLS connection established from/, 10_000, mark);
    // The host that has not been deployed yet, with its old certificate, is still fine as well.
    const stale = `lc renewed old cert ${Date.now()}`;
    expect((await asClient(MAIL, stale, old)).output).to.match(accepted);
    expect(fs.readFileSync(installed, 'utf8')).to.equal(relayFile.text);
    expect(fs.statSync(installed).mtimeMs).to.equal(relayFile.mtime);
    expect(execFileSync('postconf', ['-c', lab.relayDir, '-P'], { encoding: 'utf8' })).to.equal(relayConf);
    expect(reloads()).to.equal(reloadsBefore);
  });

  it('3. a revoked client is refused once the relay has its new allowlist; the others still relay', async function () {
    const r = p.cli(['revoke', THIRD, '--reason', 'keyCompromise']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`until then the relay still accepts ${THIRD}`);
    // True: revocation is the allowlist; the CRL alone changes nothing for Postfix.
    expect((await asClient(THIRD, `lc before deploy ${Date.now()}`, files(THIRD))).output).to.match(accepted);
    await apply(RELAY);
    const subject = `lc revoked ${Date.now()}`;
    const denied = await asClient(THIRD, subject, files(THIRD));
    expect(denied.output, denied.output).to.match(refused);
    expect(denied.code).to.not.equal(0);
    const fine = `lc backup after revoke ${Date.now()}`;
    expect((await asClient(BACKUP, fine, files(BACKUP))).output).to.match(accepted);
    await lab.waitForDelivery(fine, 30_000);
    await relaysFromClient(`lc mail after revoke ${Date.now()}`);
    await new Promise((res) => setTimeout(res, 1000));
    expect(lab.delivered().some((m) => m.includes(`Subject: ${subject}`))).to.equal(false);
  });

  it('4. a new key rotates with mail flowing at every step: relay lists old and new, client switches, rotation finishes', async function () {
    const old = snapshotClient(MAIL, 'mail-old-key');
    const r = JSON.parse(cli(['renew', MAIL, '--rekey', '--json']));
    expect(r.deploy).to.deep.equal([RELAY, MAIL]);
    const fresh = snapshotClient(MAIL, 'mail-new-key');
    await apply(RELAY);
    await relaysFromClient(`lc rotation old key ${Date.now()}`); // the client still runs with its old key
    expect((await asClient(MAIL, `lc rotation new key early ${Date.now()}`, fresh)).output).to.match(accepted);
    await apply(MAIL);
    const installedKey = fs.readFileSync(`${lab.root}/installed/smtp-client/${MAIL}.key.pem`);
    expect(installedKey.equals(fs.readFileSync(fresh.key))).to.equal(true);
    await relaysFromClient(`lc rotation new key ${Date.now()}`);
    expect(cli(['status'])).to.include(`${MAIL}: rekey since`);
    cli(['renew', '--finish', MAIL, '-q']);
    await apply(RELAY);
    await relaysFromClient(`lc rotation finished ${Date.now()}`);
    const gone = await asClient(MAIL, `lc old key after finish ${Date.now()}`, old);
    expect(gone.output, gone.output).to.match(refused);
  });

  it('5. a renewed CA certificate (same key and name) works in either deploy order', async function () {
    cli(['renew', '--ca', '-q']);
    await apply(RELAY); // the client still has the old CA certificate
    await relaysFromClient(`lc new CA relay only ${Date.now()}`);
    await apply(MAIL);
    const installedCa = fs.readFileSync(`${lab.root}/installed/ca/${D}-ca.crt.pem`, 'utf8');
    expect(installedCa).to.equal(fs.readFileSync(p.file(`certs/ca/${D}-ca.crt.pem`), 'utf8'));
    await relaysFromClient(`lc new CA both ${Date.now()}`);
    expect((await asClient(BACKUP, `lc backup new CA ${Date.now()}`, files(BACKUP))).output).to.match(accepted);
  });
});
