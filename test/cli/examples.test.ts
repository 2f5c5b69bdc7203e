// The shipped operations examples work as shipped: the alert rules pass promtool (syntax and their unit
// tests), use only metrics the tool really writes, the systemd units pass systemd-analyze verify, and
// the commands of the cron and systemd examples run as written against a real project.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createProject, CLI, REPO_ROOT, type TestProject } from '../support/project.js';
import { parseExposition, promtool } from '../support/prometheus.js';

const EX = path.join(REPO_ROOT, 'examples');

describe('examples: alert rules, systemd units, cron lines', function () {
  let p: TestProject;
  let tmp = '';

  before(function () {
    p = createProject();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ptr-examples-'));
    // A rotation in progress and a CRL, so that every family the rules use is present.
    for (const args of [['build', '-q'], ['renew', 'mailhost', '--rekey', '-q'], ['crl', '-q']]) {
      const r = p.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
    }
  });

  after(function () {
    p?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('promtool check rules and promtool test rules pass', function () {
    const check = promtool(['check', 'rules', path.join(EX, 'prometheus', 'postfix-tls-relay.rules.yml')]);
    expect(check.code, check.output).to.equal(0);
    expect(check.output).to.match(/SUCCESS: 7 rules found/);
    const unit = promtool(['test', 'rules', path.join(EX, 'prometheus', 'postfix-tls-relay.rules.test.yml')]);
    expect(unit.code, unit.output).to.equal(0);
    expect(unit.output).to.include('SUCCESS');
  });

  it('the rules use only metric names that status --format prometheus writes (and node_exporter\'s textfile mtime)', function () {
    const r = p.cli(['status', '--format', 'prometheus']);
    expect(r.code, r.stderr).to.equal(0);
    const written = new Set(parseExposition(r.stdout).map((s) => s.name));
    const rules = readFileSync(path.join(EX, 'prometheus', 'postfix-tls-relay.rules.yml'), 'utf8');
    const exprs = [...rules.matchAll(/expr: (\|\n(?: {10}.*\n)+|.*\n)/g)].map((m) => m[1]!);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:postfix_tls_relay|x509|node)_[a-z0-9_]+)/g)].map((m) => m[1]!)));
    expect(used.size).to.be.at.least(6);
    for (const name of used) {
      if (name === 'node_textfile_mtime_seconds') continue;
      expect(written.has(name), `${name} in the rules but not in the output`).to.equal(true);
    }
  });

  it('the systemd units pass systemd-analyze verify', function () {
    for (const unit of ['postfix-tls-relay-renew', 'postfix-tls-relay-metrics']) {
      // verify wants the executable to exist: the installed path becomes this checkout's.
      const service = readFileSync(path.join(EX, 'systemd', `${unit}.service`), 'utf8').replaceAll('/usr/local/bin/postfix-tls-relay', CLI);
      writeFileSync(path.join(tmp, `${unit}.service`), service);
      copyFileSync(path.join(EX, 'systemd', `${unit}.timer`), path.join(tmp, `${unit}.timer`));
      const r = spawnSync('systemd-analyze', ['verify', path.join(tmp, `${unit}.service`), path.join(tmp, `${unit}.timer`)], { encoding: 'utf8' });
      expect(r.status, `${unit}: ${r.stdout}${r.stderr}`).to.equal(0);
      expect(`${r.stdout}${r.stderr}`, unit).to.not.match(/Unknown|Invalid|Failed/i);
    }
  });

  it('the cron lines and the units\' commands run as written: silent, exit 0, a valid textfile', function () {
    const cron = readFileSync(path.join(EX, 'cron', 'postfix-tls-relay'), 'utf8').split('\n').filter((l) => /^[*\d]/.test(l));
    expect(cron).to.have.length(3);
    const units = ['postfix-tls-relay-renew', 'postfix-tls-relay-metrics'].flatMap((u) => readFileSync(path.join(EX, 'systemd', `${u}.service`), 'utf8')
      .split('\n').filter((l) => /^Exec(Start|StopPost)=-?\/usr\/local\/bin\//.test(l)));
    expect(units).to.have.length(3);
    const commands = [
      ...cron.map((l) => l.split(/\s+/).slice(5).join(' ')),
      ...units.map((l) => l.replace(/^Exec\w+=-?\/usr\/local\/bin\//, '').replaceAll('${PROJECT}', '"$HOME/relay-ca"').replaceAll('%h', '$HOME')),
    ];
    // $HOME is a fresh directory holding the project as relay-ca/ and the textfile directory.
    const home = mkdtempSync(path.join(tmp, 'home-'));
    spawnSync('cp', ['-a', p.dir, path.join(home, 'relay-ca')]);
    spawnSync('mkdir', ['-p', path.join(home, 'textfile')]);
    // The command as installed (npm install -g puts it on PATH): this checkout's.
    const bin = path.join(tmp, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'postfix-tls-relay'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
    for (const c of commands) {
      expect(c, c).to.match(/^postfix-tls-relay (renew --deploy|status --format prometheus|crl -q) /);
      const r = spawnSync('sh', ['-c', c], { env: { ...p.env, HOME: home, PATH: `${bin}:${p.env.PATH}` }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect([r.status, r.stdout, r.stderr], c).to.deep.equal([0, '', '']);
    }
    const prom = readFileSync(path.join(home, 'textfile', 'postfix-tls-relay.prom'), 'utf8');
    expect(promtool(['check', 'metrics'], prom).code).to.equal(0);
    expect(prom).to.match(/^postfix_tls_relay_rotation_in_progress\{host="mailhost\.example\.test"\} 1$/m);
  });
});
