// The settings reader is bounded (issue 27): settings.mk must be a regular file (a FIFO is refused at
// once, never waited on), an expansion stops past 1 MB, 100 000 references or 64 nested ones with one
// line naming file, line and variable (exit 2), and bytes that are not UTF-8 are refused where they
// would reach a value. Each run has a hang guard (a child still running after it is killed and fails
// the test); no timing is asserted.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CLI, useProject } from '../support/project.js';

const GUARD_MS = 30_000;

describe('hardening: a bounded settings reader', function () {
  this.timeout(120_000);
  const fx = useProject();

  function run(args: string[]) {
    const r = spawnSync(process.execPath, ['--max-old-space-size=256', CLI, ...args, '-C', fx.p.dir], { cwd: fx.p.dir, env: fx.p.env, encoding: 'utf8', timeout: GUARD_MS });
    expect(r.signal, `${args.join(' ')} was still running after ${GUARD_MS} ms`).to.equal(null);
    return { code: r.status, stderr: r.stderr, stdout: r.stdout };
  }
  const errors = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('postfix-tls-relay: '));

  it('27 variables that double each other (:=): plan stops at the first past 1 MB, exit 2, one line naming it', () => {
    const base = readFileSync(fx.p.file('settings.mk'), 'utf8');
    const first = base.split('\n').length; // the line x1 lands on
    const lines = ['x1 := ab', ...Array.from({ length: 26 }, (_, i) => `x${i + 2} := $(x${i + 1})$(x${i + 1})`)];
    writeFileSync(fx.p.file('settings.mk'), `${base}${lines.join('\n')}\n`);
    const r = run(['plan']);
    expect(r.code, r.stderr).to.equal(2);
    // x21 holds 2 MB: 2^20 copies of "ab".
    expect(errors(r.stderr)).to.deep.equal([`postfix-tls-relay: settings.mk:${first + 20}: x21 expands past 1 MB; look for variables that refer to each other over and over`]);
  });

  it('the same with recursive variables (=) read through a setting: build stops naming the setting, exit 2', () => {
    const lines = ['x1 = ab', ...Array.from({ length: 26 }, (_, i) => `x${i + 2} = $(x${i + 1})$(x${i + 1})`), 'cert_req_ou = $(x27)'];
    appendFileSync(fx.p.file('settings.mk'), `${lines.join('\n')}\n`);
    const line = readFileSync(fx.p.file('settings.mk'), 'utf8').split('\n').indexOf(lines.at(-1)!) + 1;
    for (const args of [['build'], ['status', '--check']]) {
      const r = run(args);
      expect(r.code, r.stderr).to.equal(2);
      expect(errors(r.stderr)).to.have.length(1);
      expect(errors(r.stderr)[0]).to.match(new RegExp(`^postfix-tls-relay: settings\\.mk:${line}: cert_req_ou expands past (1 MB|100000 references)`));
    }
  });

  it('references nested past 64 deep: exit 2, one line', () => {
    const lines = [...Array.from({ length: 80 }, (_, i) => `y${i} = $(y${i + 1})`), 'y80 = deep', 'cert_req_ou = $(y0)'];
    appendFileSync(fx.p.file('settings.mk'), `${lines.join('\n')}\n`);
    const r = run(['plan']);
    expect(r.code, r.stderr).to.equal(2);
    expect(errors(r.stderr)[0]).to.match(/^postfix-tls-relay: settings\.mk:\d+: cert_req_ou expands past 64 nested references/);
  });

  it('a FIFO named settings.mk (mode 0600) is refused at once by every command, never waited on', () => {
    rmSync(fx.p.file('settings.mk'));
    execFileSync('mkfifo', ['-m', '600', fx.p.file('settings.mk')]);
    for (const args of [['build'], ['plan'], ['status', '--check'], ['deploy', '-n'], ['add-client', 'newhost']]) {
      const r = run(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(errors(r.stderr), args.join(' ')).to.deep.equal(['postfix-tls-relay: settings.mk: a FIFO, not a regular file; settings.mk must be a regular file (replace it with one)']);
    }
    execFileSync('mkfifo', ['-m', '600', fx.p.file('other.mk')]);
    const f = run(['plan', '-f', fx.p.file('other.mk')]);
    expect(f.code).to.equal(2);
    expect(errors(f.stderr)).to.deep.equal(['postfix-tls-relay: other.mk: a FIFO, not a regular file; settings.mk must be a regular file (replace it with one)']);
  });

  it('bytes that are not UTF-8 in an assignment are refused with the line; in a comment they are left alone', () => {
    const base = readFileSync(fx.p.file('settings.mk'));
    const line = base.toString('utf8').split('\n').length;
    writeFileSync(fx.p.file('settings.mk'), Buffer.concat([base, Buffer.from('# Stra\xdfe in Latin-1, a comment\n', 'latin1')]));
    expect(run(['plan']).code).to.equal(0);
    writeFileSync(fx.p.file('settings.mk'), Buffer.concat([base, Buffer.from('cert_req_locality := Stra\xdfe\n', 'latin1')]));
    const r = run(['plan']);
    expect(r.code).to.equal(2);
    expect(errors(r.stderr)).to.deep.equal([`postfix-tls-relay: settings.mk:${line}: not valid UTF-8 (outside a comment); save the file as UTF-8`]);
  });
});
