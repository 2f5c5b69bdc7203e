// scripts/release-root.sh (the lab's Debian 11/13 roots, the Debian 13 workstation of .ci): what it
// refuses before anything reaches debootstrap, apt or the cache.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/project.js';

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'release-root.sh');

describe('scripts/release-root.sh: usage', function () {
  let cache: string;
  before(() => {
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-release-root-'));
  });
  after(() => fs.rmSync(cache, { recursive: true, force: true }));
  const run = (args: string[]) => spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, POSTFIX_TLS_RELAY_CI_CACHE: cache } });

  const cases: [string, string[], RegExp][] = [
    ['no release', [], /^usage: .*release-root\.sh \[--recommends\] RELEASE \[PACKAGE\.\.\.\] \| --lab-host RELEASE$/],
    ['a release that is not a code name', ['../etc'], /RELEASE must be a Debian code name such as bullseye or trixie, not '\.\.\/etc'$/],
    ['an option where a package goes', ['trixie', '--allow-unauthenticated'], /'--allow-unauthenticated' is not a Debian package name$/],
    ['a package name with a shell character', ['trixie', 'postfix;true'], /'postfix;true' is not a Debian package name$/],
  ];
  for (const [what, args, error] of cases) {
    it(`${what}: exit 2, one line, nothing in the cache`, () => {
      const r = run(args);
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr.trim()).to.match(error);
      expect(fs.readdirSync(cache)).to.deep.equal([]);
    });
  }

  it('valid bash', () => {
    expect(spawnSync('bash', ['-n', SCRIPT]).status).to.equal(0);
  });
});
