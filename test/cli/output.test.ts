// What a user sees from a real build: plain lines on a pipe, symbols and colours on a terminal (never
// with NO_COLOR), only errors with --quiet, JSON with --json.
import { expect } from 'chai';
import fs from 'node:fs';
import { COLOUR, runInTty } from '../support/cli.js';
import { useProject } from '../support/project.js';

const CA_KEY = /^run {9}CA key certs\/ca\/example\.test-ca\.key\.pem \(\d+\.\d\d s\)$/m;

describe('progress and output conventions (real build)', function () {
  const fx = useProject();

  const colourEnv = () => {
    const env = { ...fx.p.env };
    delete env.NO_COLOR;
    return env;
  };

  /** Garbage in a client key (newer than its request): the request step fails. */
  /** A new client whose key file is no key: its request fails in openssl (a recorded key that is no key any more is refused before). */
  function breakClientKey(): void {
    fs.appendFileSync(fx.p.file('settings.mk'), 'smtp_client_hostnames := broken\n');
    fs.writeFileSync(fx.p.file('certs/smtp-client/broken.example.test.key.pem'), 'not a key\n', { mode: 0o600 });
  }

  it('on a pipe: each command, one plain line per step with state and time, a summary; no escape codes', function () {
    const r = fx.p.cli(['build'], { env: colourEnv() });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.not.include('\x1b');
    expect(r.stderr).to.match(/^\+ gpg --batch --decrypt \S+ca-passphrase\.gpg \| openssl genpkey /m);
    expect(r.stderr).to.match(CA_KEY);
    expect(r.stderr).to.match(/^run {9}certificate certs\/smtp-client\/mailhost\.example\.test\.crt\.pem \(\d+\.\d\d s\)$/m);
    expect(r.stderr).to.match(/^wrote {7}relay allowlist etc\/postfix\/relay_clientcerts \(\d+\.\d\d s\)$/m);
    expect(r.stderr.trimEnd().split('\n').pop()).to.match(/^\d+ run, 0 up to date \(8 command\(s\)\), \d+\.\d\d s$/);

    const again = fx.p.cli(['build'], { env: colourEnv() });
    expect(again.code).to.equal(0);
    expect(again.stderr).to.not.match(/^\+ /m);
    expect(again.stderr).to.match(/^up to date  CA key certs\/ca\/example\.test-ca\.key\.pem$/m);
    expect(again.stderr.trimEnd().split('\n').pop()).to.match(/^nothing to do: \d+ step\(s\) up to date, \d+\.\d\d s$/);
  });

  it('on a terminal: symbols and colours; with NO_COLOR the same without colour', function () {
    const r = runInTty(['build', '-C', fx.p.dir], { cwd: fx.p.dir, env: colourEnv() });
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.match(/\x1b\[32m✓\x1b\[0m run {9}CA key certs\/ca\/example\.test-ca\.key\.pem\x1b\[2m \(\d+\.\d\d s\)\x1b\[0m/);
    expect(r.output).to.match(/\x1b\[2m\+ gpg --batch --decrypt /);
    // The live line of what is running, taken away again before the next line.
    expect(r.output).to.match(/\x1b\[2m… [^\r\n]+ \d+\.\d\d s[^\r\n]*\x1b\[0m\r\x1b\[K/);
    expect(r.output).to.match(/\x1b\[1m\d+ run, 0 up to date \(8 command\(s\)\), \d+\.\d\d s\x1b\[0m/);

    const again = runInTty(['build', '-C', fx.p.dir], { cwd: fx.p.dir, env: { ...colourEnv(), NO_COLOR: '1' } });
    expect(again.code, again.output).to.equal(0);
    expect(again.output).to.not.match(COLOUR);
    expect(again.output).to.match(/^· up to date  CA key certs\/ca\/example\.test-ca\.key\.pem$/m);
    expect(again.output).to.match(/^nothing to do: \d+ step\(s\) up to date, \d+\.\d\d s$/m);
  });

  it('a failed step: its line, a summary with the failure, then the error; exit 1', function () {
    expect(fx.p.cli(['build', '-q']).code).to.equal(0);
    breakClientKey();
    const r = fx.p.cli(['build']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^failed {6}request certs\/smtp-client\/broken\.example\.test\.csr\.pem \(\d+\.\d\d s\)$/m);
    expect(r.stderr).to.match(/^\d+ run, \d+ up to date, 1 failed \(1 command\(s\)\), \d+\.\d\d s$/m);
    expect(r.stderr).to.match(/^postfix-tls-relay: request certs\/smtp-client\/broken\.example\.test\.csr\.pem failed \(exit \d+\): openssl req /m);

    const tty = runInTty(['build', '-C', fx.p.dir], { cwd: fx.p.dir, env: colourEnv() });
    expect(tty.code).to.equal(1);
    expect(tty.output).to.match(/\x1b\[31m✗\x1b\[0m \x1b\[31mfailed/);
  });

  it('--quiet prints nothing on success and only the failure and the error otherwise', function () {
    const ok = fx.p.cli(['build', '-q']);
    expect([ok.code, ok.stdout, ok.stderr]).to.deep.equal([0, '', '']);
    breakClientKey();
    const bad = fx.p.cli(['build', '-q']);
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.equal('');
    expect(bad.stderr).to.not.match(/^(\+ |up to date|run |wrote |\d+ run)/m);
    expect(bad.stderr).to.match(/^failed {6}request /m);
    expect(bad.stderr).to.match(/^postfix-tls-relay: request /m);
  });

  it('--json: build, plan, instructions, status and clean print one JSON document on stdout', function () {
    for (const args of [['build'], ['plan'], ['instructions'], ['status'], ['clean', '-n']]) {
      const r = fx.p.cli([...args, '--json', '-q']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
      expect(() => JSON.parse(r.stdout), args.join(' ')).to.not.throw();
    }
  });
});
