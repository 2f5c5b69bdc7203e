// Help and conventions: every command documents itself with an example and the exit codes; shell
// completion works; wrong usage is exit 2 with one line.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { CLI } from '../support/project.js';

describe('help, completion and usage errors', function () {
  let cwd: string;
  before(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-help-'));
  });
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));

  const commandsOf = (help: string) => [...help.matchAll(/^ {2}postfix-tls-relay ([a-z][\w-]*)/gm)].map((m) => m[1]!);

  it('--help lists the commands, with examples and the exit codes', () => {
    const r = runCli(['--help'], { cwd });
    expect(r.code).to.equal(0);
    expect(commandsOf(r.stdout)).to.include.members(['build', 'plan', 'instructions', 'status', 'clean', 'init', 'demo', 'completion']);
    expect(r.stdout).to.include('Examples:');
    expect(r.stdout).to.include('Exit codes: 0 success, 1 runtime failure');
  });

  it('every command has --help with a description, an example and the exit codes', () => {
    const top = runCli(['--help'], { cwd }).stdout;
    for (const c of commandsOf(top)) {
      const r = runCli([c, '--help'], { cwd });
      expect(r.code, c).to.equal(0);
      const description = r.stdout.split('\n')[2] ?? '';
      expect(description, `${c}: description`).to.match(/^[A-Z]\w+ .{10,}/);
      expect(r.stdout, `${c}: example`).to.match(new RegExp(`Examples:\\n {2}(\\S+=\\S+ )?postfix-tls-relay ${c}\\b`));
      expect(r.stdout, `${c}: exit codes`).to.include('Exit codes: 0 success, 1 runtime failure');
    }
  });

  it('completion prints a bash script that asks the tool, and the tool answers with commands and options', () => {
    const script = runCli(['completion'], { cwd, env: { ...process.env, SHELL: '/bin/bash' } });
    expect(script.code).to.equal(0);
    expect(script.stdout).to.include('complete -o bashdefault -o default -F _postfix-tls-relay_yargs_completions postfix-tls-relay');
    expect(script.stdout).to.include('postfix-tls-relay --get-yargs-completions');
    // What bash runs when completing "postfix-tls-relay i<TAB>" and "postfix-tls-relay init --g<TAB>".
    const words = runCli(['--get-yargs-completions', 'postfix-tls-relay', 'i'], { cwd }).stdout.split('\n');
    expect(words).to.include.members(['init', 'instructions']);
    const opts = runCli(['--get-yargs-completions', 'postfix-tls-relay', 'init', '--g'], { cwd }).stdout.split('\n');
    expect(opts).to.include('--gpg-recipient');
    // The script itself is valid bash and registers the completion function.
    const bash = spawnSync('bash', ['-c', `${script.stdout}\ncomplete -p postfix-tls-relay`], { encoding: 'utf8' });
    expect(bash.status, bash.stderr).to.equal(0);
    expect(bash.stdout).to.include('_postfix-tls-relay_yargs_completions');
  });

  it('zsh gets a zsh script', () => {
    const r = runCli(['completion'], { cwd, env: { ...process.env, SHELL: '/usr/bin/zsh' } });
    expect(r.stdout).to.match(/^#compdef postfix-tls-relay/);
  });

  it('an unknown command or option is exit 2 with one line', () => {
    for (const args of [['frobnicate'], ['build', '--frobnicate']]) {
      const r = runCli(args, { cwd });
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/^postfix-tls-relay: .*; see postfix-tls-relay --help\n$/);
    }
  });

  it('the bin script runs from any directory (no project needed for --help)', () => {
    const r = spawnSync(process.execPath, [CLI, 'init', '--help'], { cwd: os.tmpdir(), encoding: 'utf8' });
    expect(r.status).to.equal(0);
    expect(r.stdout).to.include('--gpg-recipient');
  });
});
