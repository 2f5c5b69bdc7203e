// `npm start` → `postfix-tls-relay demo`: a complete example in seconds, safe to run again.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';

/** PIDs of processes whose command line mentions `needle` (read from /proc; nothing is killed). */
function processesMentioning(needle: string): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
    } catch {
      return false;
    }
  }).map(Number);
}

describe('demo (npm start)', function () {
  let cwd: string;
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.GNUPGHOME;
  before(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-demo-'));
  });
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('builds ./demo in seconds: the commands as they run, instructions, allowlist, verify summary', function () {
    const t0 = Date.now();
    const r = runCli(['demo'], { cwd, env });
    const secs = (Date.now() - t0) / 1000;
    expect(r.code, r.stderr).to.equal(0);
    expect(secs).to.be.below(30);
    expect(r.stderr).to.include('+ gpg --batch --pinentry-mode loopback --passphrase \'\' --quick-generate-key');
    expect(r.stderr).to.match(/^\+ gpg --batch --yes --trust-model always --encrypt --recipient demo@example\.invalid --output \.ca-passphrase\.gpg\.tmp +# stdin/m);
    expect(r.stderr).to.match(/^\+ gpg --batch --decrypt \S+ \| openssl genpkey -algorithm EC /m);
    expect(r.stderr).to.match(/^\d+ run, 0 up to date \(11 command\(s\)\)/m);
    expect(r.stdout).to.include('== relayhost.example.org: smtpd server (the relay, port 2500) ==');
    expect(r.stdout).to.include('== backup-mailhost.example.org: smtp client ==');
    expect(r.stderr).to.match(/^Allowlist etc\/postfix\/relay_clientcerts:\n(.*\n){2}([0-9A-F]{2}:){31}[0-9A-F]{2} mailhost\.example\.org\n/m);
    expect(r.stderr.match(/^ {2}OK {4}openssl verify /gm)).to.have.length(3);
    expect(r.stderr).to.match(/^Done in \d+\.\d\d s: the example project is demo\/\. Run it again: nothing to do\.$/m);
    expect(fs.statSync(path.join(cwd, 'demo')).mode & 0o777).to.equal(0o700);
    // The throwaway gpg-agent does not outlive the demo.
    expect(processesMentioning(path.join(cwd, 'demo', '.gnupg'))).to.deep.equal([]);
  });

  it('a second run has nothing to do: no command, not even gpg', function () {
    const r = runCli(['demo'], { cwd, env });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.not.match(/^\+ /m);
    expect(r.stderr).to.match(/^nothing to do: \d+ step\(s\) up to date/m);
    expect(r.stderr).to.include('Nothing to do: every file in demo/ is up to date.');
    expect(r.stderr.match(/^ {2}OK {4}/gm)).to.have.length(3);
  });

  it('--json gives the build result; --quiet prints nothing', function () {
    const j = runCli(['demo', '--json', '-q'], { cwd, env });
    expect(j.code, j.stderr).to.equal(0);
    const data = JSON.parse(j.stdout) as { commands: string[]; steps: unknown[] };
    expect(data.commands).to.deep.equal([]);
    expect(data.steps).to.have.length.above(30);
    const q = runCli(['demo', '-q'], { cwd, env });
    expect([q.code, q.stdout, q.stderr]).to.deep.equal([0, '', '']);
  });
});
