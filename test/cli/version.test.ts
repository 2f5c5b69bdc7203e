// --version and -V (issue 27): "postfix-tls-relay <version>" from package.json, exit 0, also where a
// plain build, plan or status would be parsed without yargs, and without a project.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { REPO_ROOT } from '../support/project.js';

describe('--version', function () {
  this.timeout(60_000);
  let cwd: string;
  before(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-version-'));
  });
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));
  const version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  for (const args of [['--version'], ['-V'], ['build', '--version'], ['status', '-V'], ['-q', '--version'], ['plan', '-C', 'nowhere', '-V'], ['deploy', 'client', '--version']]) {
    it(`${args.join(' ')}: prints "postfix-tls-relay ${version}", exit 0, nothing else`, () => {
      const r = runCli(args, { cwd });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.equal(`postfix-tls-relay ${version}\n`);
      expect(r.stderr).to.equal('');
    });
  }

  it('--help lists it', () => {
    const r = runCli(['--help'], { cwd });
    expect(r.stdout).to.match(/-V, --version +Print "postfix-tls-relay <version>" and exit/);
  });

  it('after --, it is an argument, not the option', () => {
    const r = runCli(['--', '--version'], { cwd });
    expect(r.code).to.equal(2);
    expect(r.stdout).not.to.include('postfix-tls-relay 0');
  });
});
