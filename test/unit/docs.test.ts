// The README cannot drift from the code: the settings table is the catalog's, every command and the
// exit codes are documented, and the set-up commands stay at the top.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { EPILOG } from '../../lib/cli/main.js';
import { SETTINGS } from '../../lib/settings/catalog.js';
import { settingsTable, TABLE_BEGIN, TABLE_END, withSettingsTable } from '../../lib/settings/reference.js';
import { runCli } from '../support/cli.js';
import { REPO_ROOT } from '../support/project.js';

const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

describe('README.md', () => {
  it('starts with the two set-up commands: npm ci && npm start, then npm test', () => {
    const lines = readme.split('\n').filter((l) => l.trim() && !l.startsWith('#') && !l.startsWith('```'));
    expect(lines[0]).to.match(/^npm ci && npm start(\s|$)/);
    expect(lines[1]).to.match(/^npm test(\s|$)/);
  });

  it('holds the settings table exactly as generated from lib/settings/catalog.ts (npm run docs)', () => {
    expect(readme).to.include(TABLE_BEGIN).and.include(TABLE_END);
    expect(withSettingsTable(readme), 'README.md is out of date: run npm run docs').to.equal(readme);
  });

  it('has a row for every catalog setting, with its default and seed/new origin', () => {
    const table = readme.slice(readme.indexOf(TABLE_BEGIN), readme.indexOf(TABLE_END));
    for (const s of SETTINGS) {
      const row = table.split('\n').find((l) => l.startsWith(`| \`${s.name}\` |`));
      expect(row, s.name).to.be.a('string');
      expect(row).to.include(s.seed ? '| seed |' : '| new |');
      if (s.default !== undefined) expect(row).to.include(`\`${s.default}\``);
    }
    expect(settingsTable().split('\n')).to.have.length(SETTINGS.length + 2);
  });

  it('documents every command of --help and the exit codes that --help prints', () => {
    const help = runCli(['--help'], { cwd: REPO_ROOT }).stdout;
    const commands = [...help.matchAll(/^ {2}postfix-tls-relay ([a-z][\w-]*)/gm)].map((m) => m[1]!);
    expect(commands).to.include.members(['build', 'init', 'demo', 'completion']);
    for (const c of commands) expect(readme, c).to.match(new RegExp(`^\\| \`${c}[\` ]`, 'm'));
    expect(EPILOG).to.match(/Exit codes: 0 success, 1 runtime failure .*\n2 bad usage/);
    expect(readme).to.match(/\*\*Exit codes\.\*\* `0` success · `1` runtime failure.* · `2` bad usage or invalid settings/s);
  });

  it('names only log lines that the troubleshooting section can be searched for', () => {
    for (const line of [
      'Trusted TLS connection established',
      'Verified TLS connection established',
      '554 5.7.1 <rcpt>: Recipient address rejected: Access denied',
      '421 4.7.1 … Client certificate not trusted',
      'cannot get RSA certificate from file',
      '530 5.7.0 Must issue a STARTTLS command first',
    ]) {
      expect(readme).to.include(line);
    }
  });
});
