// End to end with real Postfix: two instances configured ONLY by the bundles' apply.sh (the lab adds
// base config: ports, queues, logging), proving that the relay forwards mail for a listed client
// certificate and refuses everything else.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createLab, freePort, labPrerequisites, requirePrerequisites, swaks, waitForPort, type Lab } from '../support/lab.js';
import { labSettings } from '../support/lab-settings.js';
import { createProject, type TestProject } from '../support/project.js';
import { createTestGpg, type TestGpg } from '../support/gpg.js';

const RELAY = 'relayhost.example.test';
const CLIENT = 'mailhost.example.test';
const OTHER = 'other.example.test';

function build(p: TestProject, args: string[] = []): void {
  const r = p.cli(['build', '-q', ...args]);
  expect(r.code, r.stderr).to.equal(0);
}

function apply(p: TestProject, fqdn: string): string {
  return execFileSync('sh', [p.file(`out/${fqdn}/apply.sh`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function applyBoth(lab: Lab, p: TestProject): Promise<{ relay: string; client: string }> {
  const relay = apply(p, RELAY);
  const client = apply(p, CLIENT);
  await waitForPort(lab.relayPort);
  return { relay, client };
}

/** swaks against the relay port, optionally with STARTTLS and a client certificate. */
function toRelay(lab: Lab, subject: string, tls: 'none' | 'nocert' | { cert: string; key: string }) {
  const args = ['--server', '127.0.0.1', '--port', String(lab.relayPort), '--ehlo', CLIENT, '--from', `sender@${CLIENT}`, '--to', 'rcpt@example.org', '--header', `Subject: ${subject}`, '--timeout', '20'];
  if (tls !== 'none') args.push('--tls');
  if (typeof tls === 'object') args.push('--tls-cert', tls.cert, '--tls-key', tls.key);
  return swaks(args);
}

function delivered(lab: Lab, subject: string): boolean {
  return lab.delivered().some((m) => m.includes(`Subject: ${subject}`));
}

function postconfState(lab: Lab): string {
  const run = (dir: string, args: string[]) => execFileSync('postconf', ['-c', dir, ...args], { encoding: 'utf8' });
  return [lab.clientDir, lab.relayDir].map((d) => [run(d, ['-n']), run(d, ['-M']), run(d, ['-P'])].join('\n---\n')).join('\n===\n');
}

describe('e2e: relaying through real Postfix with the generated configuration', function () {
  let lab: Lab;
  let gpg: TestGpg;
  let p: TestProject;
  let unlisted: { cert: string; key: string };
  let firstApply: { relay: string; client: string };

  before(async function () {
    requirePrerequisites(this, labPrerequisites());
    lab = await createLab({ relayFqdn: RELAY, clientFqdns: [CLIENT, OTHER], relayPort: await freePort() });
    await lab.start();
    gpg = createTestGpg();
    // Two clients at first, so that OTHER gets a certificate from our CA; then OTHER is dropped
    // from the settings, leaving a CA-signed certificate that the relay does not list.
    p = createProject({ gpg, settings: labSettings(lab, 'smtp_client_hostnames := other') });
    build(p);
    const keep = path.join(lab.root, 'unlisted');
    fs.mkdirSync(keep);
    unlisted = { cert: path.join(keep, 'cert.pem'), key: path.join(keep, 'key.pem') };
    fs.copyFileSync(p.file(`certs/smtp-client/${OTHER}.crt.pem`), unlisted.cert);
    fs.copyFileSync(p.file(`certs/smtp-client/${OTHER}.key.pem`), unlisted.key);
    fs.writeFileSync(p.file('settings.mk'), labSettings(lab, '')(p.passphraseFile));
    build(p);
    expect(fs.readFileSync(p.file('etc/postfix/relay_clientcerts'), 'utf8')).to.not.include(OTHER);
    firstApply = await applyBoth(lab, p);
  });

  after(async function () {
    await lab?.cleanup();
    p?.dispose();
    gpg?.dispose();
  });

  const listed = () => ({ cert: p.file(`certs/smtp-client/${CLIENT}.crt.pem`), key: p.file(`certs/smtp-client/${CLIENT}.key.pem`) });

  it('1. relays mail injected at the client; the relay trusts the client, the client verifies the relay', async function () {
    const relayMark = lab.logMark('relay');
    const clientMark = lab.logMark('client');
    const subject = `e2e inject ${Date.now()}`;
    await lab.inject({ from: `root@${CLIENT}`, to: 'rcpt@example.org', subject });
    const mail = await lab.waitForDelivery(subject, 30_000);
    expect(mail).to.include(`Subject: ${subject}`);
    await lab.waitForLog('relay', /Trusted TLS connection established from/, 10_000, relayMark);
    await lab.waitForLog('client', new RegExp(`Verified TLS connection established to ${RELAY.replace(/\./g, '\\.')}`), 10_000, clientMark);
    await lab.waitForLog('client', new RegExp(`relay=${RELAY.replace(/\./g, '\\.')}\\[127\\.0\\.0\\.1\\]:${lab.relayPort},.*status=sent`), 10_000, clientMark);
  });

  it('2. a direct SMTP session with the listed client certificate gets 250', async function () {
    const subject = `e2e listed ${Date.now()}`;
    const r = await toRelay(lab, subject, listed());
    expect(r.output).to.match(/<~\s+250 2\.0\.0 Ok: queued/);
    await lab.waitForDelivery(subject, 30_000);
  });

  it('3. a certificate from the same CA that is not listed is refused with 554, nothing delivered', async function () {
    const subject = `e2e unlisted ${Date.now()}`;
    const r = await toRelay(lab, subject, unlisted);
    expect(r.output).to.match(/<~?\*+\s+554 5\.7\.1 .*Access denied/);
    expect(r.code).to.not.equal(0);
    await new Promise((res) => setTimeout(res, 1000));
    expect(delivered(lab, subject)).to.equal(false);
  });

  it('4. no client certificate is refused at TLS time (4xx); no STARTTLS gets 530; nothing delivered', async function () {
    const s1 = `e2e nocert ${Date.now()}`;
    const noCert = await toRelay(lab, s1, 'nocert');
    expect(noCert.output).to.match(/<~?\*+\s+421 4\.7\.1 .*(No client certificate presented|Client certificate not trusted)/);
    const s2 = `e2e plain ${Date.now()}`;
    const plain = await toRelay(lab, s2, 'none');
    expect(plain.output).to.match(/<~?\*+\s+530 5\.7\.0 Must issue a STARTTLS command first/);
    await new Promise((res) => setTimeout(res, 1000));
    expect(delivered(lab, s1) || delivered(lab, s2)).to.equal(false);
  });

  it('7. running apply.sh again changes nothing and does not reload', async function () {
    const before = postconfState(lab);
    const reloads = (lab.maillog('relay') + lab.maillog('client')).match(/reload/g)?.length ?? 0;
    const outRelay = apply(p, RELAY);
    const outClient = apply(p, CLIENT);
    expect(outRelay).to.match(new RegExp(`apply: ${RELAY}: unchanged\\n$`));
    expect(outClient).to.match(new RegExp(`apply: ${CLIENT}: unchanged\\n$`));
    expect(postconfState(lab)).to.equal(before);
    expect((lab.maillog('relay') + lab.maillog('client')).match(/reload/g)?.length ?? 0).to.equal(reloads);
    // What apply.sh set, read back from Postfix itself.
    const svc = `${lab.relayPort}/inet`;
    const P = execFileSync('postconf', ['-c', lab.relayDir, '-P', svc], { encoding: 'utf8' });
    expect(P).to.include(`${svc}/smtpd_relay_restrictions = permit_tls_clientcerts,reject`);
    expect(P).to.include(`${svc}/smtpd_tls_req_ccert = yes`);
    expect(P).to.include(`${svc}/smtpd_tls_fingerprint_digest = sha256`);
    expect(P).to.include(`${svc}/relay_clientcerts = texthash:${lab.root}/installed/relay_clientcerts`);
    const main = execFileSync('postconf', ['-c', lab.clientDir, '-n'], { encoding: 'utf8' });
    expect(main).to.include(`relayhost = [${RELAY}]:${lab.relayPort}`);
    expect(main).to.include('default_transport = postfix-tls-relay');
    // The relay's policy and the certificate only on the client's relay service, nothing of it in main.cf.
    expect(main).to.not.match(/^smtp_tls_(security_level|CAfile|chain_files) = /m);
    const clientP = execFileSync('postconf', ['-c', lab.clientDir, '-P', 'postfix-tls-relay/unix'], { encoding: 'utf8' });
    expect(clientP).to.include('postfix-tls-relay/unix/smtp_tls_security_level = secure');
    expect(clientP).to.include(`postfix-tls-relay/unix/smtp_tls_chain_files = ${lab.root}/installed/smtp-client/${CLIENT}.key.pem,${lab.root}/installed/smtp-client/${CLIENT}.crt.pem`);
  });

  it('7b. a first apply runs postfix check; a new -o value only reloads Postfix (no postfix check), and mail relays', async function () {
    for (const out of [firstApply.relay, firstApply.client]) {
      expect(out).to.include('apply: postfix check: no error');
      expect(out).to.match(/apply: reloaded Postfix/);
    }
    const reloads = () => lab.maillog('client').match(/reload/g)?.length ?? 0;
    const before = reloads();
    try {
      fs.writeFileSync(p.file('settings.mk'), labSettings(lab, 'smtp_client_tls_loglevel := 2')(p.passphraseFile));
      build(p);
      const out = apply(p, CLIENT);
      expect(out).to.include('apply: master.cf: -o postfix-tls-relay/unix/smtp_tls_loglevel=2');
      expect(out).to.include('apply: reloaded Postfix');
      expect(out).to.not.include('postfix check');
      expect(out, out).to.match(new RegExp(`apply: ${CLIENT}: 1 change\\(s\\) applied\\n$`)); // the -o value alone
      const deadline = Date.now() + 10_000;
      while (reloads() === before && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      expect(reloads(), 'the client Postfix logged a reload').to.be.greaterThan(before);
      const subject = `e2e loglevel ${Date.now()}`;
      await lab.inject({ from: `root@${CLIENT}`, to: 'rcpt@example.org', subject });
      await lab.waitForDelivery(subject, 30_000);
    } finally {
      fs.writeFileSync(p.file('settings.mk'), labSettings(lab, '')(p.passphraseFile));
      build(p);
      apply(p, CLIENT);
    }
  });

  it('6. the seed\'s signature_hash = md5 still relays on this Postfix, with hash and with texthash tables', async function () {
    for (const table of ['hash', 'texthash']) {
      build(p, ['--set', 'signature_hash=md5', '--set', `relay_clientcerts_table_type=${table}`]);
      const list = fs.readFileSync(p.file('etc/postfix/relay_clientcerts'), 'utf8');
      expect(list).to.match(new RegExp(`^([0-9A-F]{2}:){15}[0-9A-F]{2} ${CLIENT.replace(/\./g, '\\.')}$`, 'm'));
      apply(p, RELAY);
      await waitForPort(lab.relayPort);
      if (table === 'hash') expect(fs.existsSync(`${lab.root}/installed/relay_clientcerts.db`)).to.equal(true);
      const P = execFileSync('postconf', ['-c', lab.relayDir, '-P', `${lab.relayPort}/inet`], { encoding: 'utf8' });
      expect(P).to.include('smtpd_tls_fingerprint_digest = md5');
      expect(P).to.include(`relay_clientcerts = ${table}:`);
      const subject = `e2e md5 ${table} ${Date.now()}`;
      const r = await toRelay(lab, subject, listed());
      expect(r.output, r.output).to.match(/<~\s+250 2\.0\.0 Ok: queued/);
      await lab.waitForDelivery(subject, 30_000);
      const refused = await toRelay(lab, `${subject} unlisted`, unlisted);
      expect(refused.output).to.match(/<~?\*+\s+554 5\.7\.1 .*Access denied/);
    }
    build(p); // back to the defaults (sha256, texthash)
    apply(p, RELAY);
    await waitForPort(lab.relayPort);
  });

  it('5. a relay certificate from another CA makes the client defer the mail, not send it in clear', async function () {
    const rogue = createProject({ gpg, settings: labSettings(lab, '') });
    try {
      build(rogue);
      apply(rogue, RELAY); // same names and paths, another CA's relay certificate and allowlist
      // The lab's two instances share certs_remote_dir, so that also replaced the client's CA file: put ours
      // back (and reload the client), as a client host of its own would have it.
      apply(p, CLIENT);
      await waitForPort(lab.relayPort);
      const clientMark = lab.logMark('client');
      const subject = `e2e rogue ${Date.now()}`;
      await lab.inject({ from: `root@${CLIENT}`, to: 'rcpt@example.org', subject });
      await lab.waitForLog('client', /(certificate verification failed|Server certificate not trusted|untrusted issuer)/, 30_000, clientMark);
      await lab.waitForLog('client', /status=deferred/, 30_000, clientMark);
      expect(await lab.queue('client')).to.include(`root@${CLIENT}`);
      expect(delivered(lab, subject)).to.equal(false);
      // Back to our own relay bundle: the queued mail now goes through.
      apply(p, RELAY);
      await waitForPort(lab.relayPort);
      await lab.flush('client');
      await lab.waitForDelivery(subject, 60_000);
    } finally {
      rogue.dispose();
    }
  });

  it('8. RSA keys relay as well as EC keys', async function () {
    const rsa = createProject({ gpg, settings: labSettings(lab, ['key_algorithm := rsa', 'key_bits := 2048', 'ca_key_bits := 2048'].join('\n')) });
    try {
      build(rsa);
      const text = execFileSync('openssl', ['x509', '-in', rsa.file(`certs/smtp-client/${CLIENT}.crt.pem`), '-noout', '-text'], { encoding: 'utf8' });
      expect(text).to.include('rsaEncryption');
      await applyBoth(lab, rsa);
      const subject = `e2e rsa ${Date.now()}`;
      await lab.inject({ from: `root@${CLIENT}`, to: 'rcpt@example.org', subject });
      await lab.waitForDelivery(subject, 30_000);
      const r = await toRelay(lab, `${subject} direct`, { cert: rsa.file(`certs/smtp-client/${CLIENT}.crt.pem`), key: rsa.file(`certs/smtp-client/${CLIENT}.key.pem`) });
      expect(r.output).to.match(/<~\s+250 2\.0\.0 Ok: queued/);
      // The EC certificate of the first project belongs to another CA now: refused at TLS time.
      const ec = await toRelay(lab, `${subject} ec`, listed());
      expect(ec.output).to.match(/<~?\*+\s+421 4\.7\.1 .*Client certificate not trusted/);
    } finally {
      rsa.dispose();
    }
  });
});
