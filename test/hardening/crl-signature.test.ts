// The CRL must be ours (issue 27): a CRL signed by another CA with the same issuer name is a problem
// wherever the CRL is read — status --check (exit 1), --nagios (CRITICAL), the Prometheus metrics, --json —
// until `crl` makes ours again. Real openssl makes both CAs and both CRLs; openssl itself is the referee.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseExposition, valueOf } from '../support/prometheus.js';
import { settingsText, useProject, type TestProject } from '../support/project.js';

const CA_CERT = 'certs/ca/example.test-ca.crt.pem';
const CRL = 'certs/ca/example.test-ca.crl.pem';
const PROBLEM = `CRL ${CRL}: not signed by ${CA_CERT}; run postfix-tls-relay crl`;

/** A CA of its own with exactly our CA's subject, and a CRL it signs (openssl ca -gencrl). */
function foreignCrl(p: TestProject, keyArgs: string[]): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-foreign-ca-'));
  try {
    const subject = execFileSync('openssl', ['x509', '-in', p.file(CA_CERT), '-noout', '-subject', '-nameopt', 'compat'], { encoding: 'utf8' }).trim().replace(/^subject=\s*/, '');
    execFileSync('openssl', ['req', '-x509', '-newkey', ...keyArgs, '-nodes', '-keyout', `${dir}/ca.key`, '-out', `${dir}/ca.crt`, '-days', '30', '-subj', subject], { stdio: 'ignore' });
    writeFileSync(`${dir}/index.txt`, '');
    writeFileSync(`${dir}/crlnumber`, '01\n');
    writeFileSync(`${dir}/ca.cnf`, `[ca]\ndefault_ca = x\n[x]\ndatabase = ${dir}/index.txt\ncrlnumber = ${dir}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n`);
    execFileSync('openssl', ['ca', '-batch', '-config', `${dir}/ca.cnf`, '-gencrl', '-keyfile', `${dir}/ca.key`, '-cert', `${dir}/ca.crt`, '-out', `${dir}/crl.pem`], { stdio: 'ignore' });
    return readFileSync(`${dir}/crl.pem`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const [kind, keyArgs] of [['ec', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']], ['rsa', ['rsa:2048']]] as const) {
  describe(`hardening: a CRL from another CA with the same name is not ours (${kind} CA)`, function () {
    this.timeout(180_000);
    const fx = useProject({ each: false, settings: (f) => settingsText(f, kind === 'rsa' ? 'key_algorithm := rsa\nca_key_bits := 2048' : '') });

    before(() => {
      for (const args of [['build', '-q'], ['crl', '-q']]) {
        const r = fx.p.cli(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
      }
    });

    it('our CRL: status --check 0, --json says signed, the metric is 1', () => {
      const p = fx.p;
      expect(p.cli(['status', '--check', '-q']).code).to.equal(0);
      expect((JSON.parse(p.cli(['status', '--json']).stdout) as { crl: { signedByCa: boolean } }).crl.signedByCa).to.equal(true);
      expect(valueOf(parseExposition(p.cli(['status', '--format', 'prometheus']).stdout), 'postfix_tls_relay_crl_signed')).to.equal(1);
    });

    it('a foreign CRL with the same issuer: a problem in status --check (1), CRITICAL in --nagios (2), 0 in the metrics; crl makes ours again', () => {
      const p = fx.p;
      const ours = readFileSync(p.file(CRL));
      writeFileSync(p.file(CRL), foreignCrl(p, [...keyArgs]));
      // The same issuer name, and openssl refuses it against our CA: the case this test is about.
      const issuer = (f: string) => execFileSync('openssl', ['crl', '-in', f, '-noout', '-issuer'], { encoding: 'utf8' });
      writeFileSync(p.file('ours.crl.pem'), ours);
      expect(issuer(p.file(CRL))).to.equal(issuer(p.file('ours.crl.pem')));
      const verdict = spawnSync('openssl', ['crl', '-in', p.file(CRL), '-CAfile', p.file(CA_CERT), '-noout'], { encoding: 'utf8' });
      expect(verdict.stderr + verdict.stdout).to.match(/verify failure/);

      const check = p.cli(['status', '--check']);
      expect(check.code, check.stderr).to.equal(1);
      expect(check.stdout + check.stderr).to.include(PROBLEM);
      const nagios = p.cli(['status', '--nagios']);
      expect(nagios.code, nagios.stdout).to.equal(2);
      expect(nagios.stdout).to.match(/^POSTFIX-TLS-RELAY CRITICAL - /);
      expect(nagios.stdout).to.include('not signed by');
      expect(valueOf(parseExposition(p.cli(['status', '--format', 'prometheus']).stdout), 'postfix_tls_relay_crl_signed')).to.equal(0);
      const json = JSON.parse(p.cli(['status', '--json']).stdout) as { crl: { signedByCa: boolean }; problems: string[] };
      expect(json.crl.signedByCa).to.equal(false);
      expect(json.problems).to.include(PROBLEM);

      const crl = p.cli(['crl', '-q']);
      expect(crl.code, crl.stderr).to.equal(0);
      expect(p.cli(['status', '--check', '-q']).code).to.equal(0);
      expect(spawnSync('openssl', ['crl', '-in', p.file(CRL), '-CAfile', p.file(CA_CERT), '-noout']).status).to.equal(0);
    });
  });
}
