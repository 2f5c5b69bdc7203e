import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  loadMakeVariables,
  MakeSyntaxError,
  MakeVariables,
  parseMakeText,
  type MakeVariablesOptions,
} from '../../lib/settings/makefile.js';
import { SEED_DIR } from '../support/project.js';

const ENV = { HOME: '/home/alice', EDITOR: 'vi' };

function load(text: string, opts: MakeVariablesOptions & { overrides?: Record<string, string> } = {}) {
  return loadMakeVariables(text, 'settings.mk', { env: ENV, ...opts });
}

function value(vars: MakeVariables, name: string): string | undefined {
  return vars.resolve(name)?.value;
}

/** Runs fn, expects a MakeSyntaxError, returns it. */
function syntaxError(fn: () => unknown): MakeSyntaxError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(MakeSyntaxError);
    const err = e as MakeSyntaxError;
    expect(err.message).to.not.include('\n');
    expect(err.message.startsWith(`${err.file}:${err.line}: `)).to.equal(true);
    return err;
  }
  throw new Error('expected a MakeSyntaxError');
}

describe('settings makefile parser', () => {
  it('parses every operator, with tabs and free whitespace', () => {
    const list = parseMakeText('a := 1\nb::=2\nc\t\t=  3\nd ?= 4\n  e\t+= 5  \n', 'settings.mk');
    expect(list.map((a) => [a.name, a.op, a.value, a.line])).to.deep.equal([
      ['a', ':=', '1', 1],
      ['b', '::=', '2', 2],
      ['c', '=', '3', 3],
      ['d', '?=', '4', 4],
      ['e', '+=', '5', 5],
    ]);
    expect(list[0]!.file).to.equal('settings.mk');
  });

  it('ignores comments and blank lines, keeps \\# literal, strips trailing whitespace', () => {
    const vars = load('# header\n\n  \t\nx := a\\#b  # note\ny := plain   \n');
    expect(value(vars, 'x')).to.equal('a#b');
    expect(value(vars, 'y')).to.equal('plain');
    expect(vars.names()).to.deep.equal(['x', 'y']);
  });

  it('accepts and ignores export/override, but "export" can still be a name', () => {
    const vars = load('export a := 1\noverride export b = 2\nexport := 3\n');
    expect([value(vars, 'a'), value(vars, 'b'), value(vars, 'export')]).to.deep.equal(['1', '2', '3']);
  });

  it('joins continuation lines with one space and keeps later line numbers right', () => {
    const text = 'list := one \\\n     two\\\n\\\n   three\nok := 1\nbad line\n';
    const err = syntaxError(() => parseMakeText(text, 'settings.mk'));
    expect(err.line).to.equal(6);
    const vars = load(text.replace('bad line\n', ''));
    expect(value(vars, 'list')).to.equal('one two three');
    expect(vars.origin('ok')).to.deep.equal({ file: 'settings.mk', line: 5 });
  });

  it('a comment swallows its continuation line, as in make', () => {
    expect(parseMakeText('a := 1 # note \\\nb := 2\n', 'f').map((a) => a.name)).to.deep.equal(['a']);
  });

  describe('syntax errors', () => {
    it('rejects a rule line', () => {
      const err = syntaxError(() => parseMakeText('a := 1\n\nall: build\n', 'settings.mk'));
      expect([err.file, err.line]).to.deep.equal(['settings.mk', 3]);
      expect(err.message).to.equal(
        'settings.mk:3: expected an assignment such as "name := value", found "all: build" (rules are not supported)',
      );
    });

    it('rejects a line with no operator', () => {
      const err = syntaxError(() => parseMakeText('foo bar\n', 'settings.mk'));
      expect(err.message).to.equal('settings.mk:1: expected an assignment such as "name := value", found "foo bar"');
    });

    it('rejects conditionals, include, define and recipe lines', () => {
      expect(syntaxError(() => parseMakeText('a := 1\nifeq ($(a),1)\nb := 2\nendif\n', 'f')).line).to.equal(2);
      expect(syntaxError(() => parseMakeText('include other.mk\n', 'f')).message).to.include('include');
      expect(syntaxError(() => parseMakeText('define x\n', 'f')).message).to.include('define');
      expect(syntaxError(() => parseMakeText('\techo hi\n', 'f')).message).to.include('recipe');
      expect(syntaxError(() => parseMakeText('a != date\n', 'f')).message).to.include('!=');
    });

    it('rejects make functions, naming the function', () => {
      const err = syntaxError(() => parseMakeText('a := 1\nnow := $(shell date +%s)\n', 'settings.mk'));
      expect(err.line).to.equal(2);
      expect(err.message).to.match(/^settings\.mk:2: make function "shell" is not supported/);
      expect(syntaxError(() => parseMakeText('x = ${subst a,b,c}\n', 'f')).message).to.include('"subst"');
      expect(syntaxError(() => parseMakeText('x = $(a_$(wildcard *))\n', 'f')).message).to.include('"wildcard"');
    });

    it('rejects substitution references and unterminated references', () => {
      expect(syntaxError(() => parseMakeText('x = $(srcs:.c=.o)\n', 'f')).message).to.include('substitution');
      expect(syntaxError(() => parseMakeText('x = $(oops\n', 'f')).message).to.include('unterminated');
    });
  });

  describe('evaluation', () => {
    it(':= captures the value at that point; = is expanded at use (forward references)', () => {
      const vars = load('a := 1\nsimple := $(a)\nrec = $(a) $(later)\na := 2\nlater = L\n');
      expect(value(vars, 'simple')).to.equal('1');
      expect(value(vars, 'rec')).to.equal('2 L');
      expect(vars.resolve('rec')!.undefinedRefs).to.deep.equal([]);
    });

    it('+= on a simple variable expands the new text immediately', () => {
      const vars = load('x := 1\ns := a\ns += $(x)\nx := 2\n');
      expect(value(vars, 's')).to.equal('a 1');
    });

    it('+= on a recursive variable keeps the new text raw', () => {
      const vars = load('x := 1\nr = a\nr += $(x)\nx := 2\n');
      expect(value(vars, 'r')).to.equal('a 2');
      expect(vars.origin('r')).to.deep.equal({ file: 'settings.mk', line: 3 });
    });

    it('+= adds no space to an empty value and acts as = on a new variable', () => {
      const vars = load('e :=\ne += a\nn += $(later)\nlater := L\n');
      expect(value(vars, 'e')).to.equal('a');
      expect(value(vars, 'n')).to.equal('L');
    });

    it('?= only assigns when undefined; an environment variable counts as defined', () => {
      const vars = load('a := 1\na ?= 2\nb ?= 3\nHOME ?= /root\nhome := $(HOME)\n');
      expect(value(vars, 'a')).to.equal('1');
      expect(value(vars, 'b')).to.equal('3');
      expect(vars.has('HOME')).to.equal(false);
      expect(vars.resolve('HOME')).to.equal(undefined);
      expect(value(vars, 'home')).to.equal('/home/alice');
    });

    it('+= on an environment variable appends to its value', () => {
      expect(value(load('EDITOR += -n\n'), 'EDITOR')).to.equal('vi -n');
    });

    it('falls back to the environment (${HOME}) and reports it', () => {
      const r = load('p := ${HOME}/.gpg\n').resolve('p')!;
      expect(r.value).to.equal('/home/alice/.gpg');
      expect(r.envRefs).to.deep.equal(['HOME']);
      expect(r.undefinedRefs).to.deep.equal([]);
    });

    it('handles $$, $x single-letter references, $() and computed names', () => {
      const vars = load('x = X\nlit := cost $$5\none := $xy\nnone := a$()b\nkind := ca\ndir_ca := certs/ca\nd = $(dir_$(kind))\n');
      expect(value(vars, 'lit')).to.equal('cost $5');
      expect(value(vars, 'one')).to.equal('Xy');
      expect(value(vars, 'none')).to.equal('ab');
      expect(value(vars, 'd')).to.equal('certs/ca');
    });

    it('reports undefined references transitively', () => {
      const vars = load('a = $(b) $(nope1)\nb = $(c)\nc := x$(nope2)\nok = $(c)\nearly := $(late)\nlate := 1\n');
      expect(vars.resolve('a')!.undefinedRefs).to.deep.equal(['nope2', 'nope1']);
      expect(vars.resolve('ok')!.undefinedRefs).to.deep.equal(['nope2']);
      // := expanded before `late` existed: make gives "" here, so it is reported.
      expect(vars.resolve('early')).to.deep.include({ value: '', undefinedRefs: ['late'] });
      expect(vars.resolve('undefined_name')).to.equal(undefined);
    });

    it('detects recursion loops and names the variable', () => {
      const vars = load('a = $(b)\nb = x $(a)\n');
      const err = syntaxError(() => vars.resolve('a'));
      expect(err.message).to.equal("settings.mk:1: recursive variable 'a' references itself (eventually): a -> b -> a");
      expect(syntaxError(() => load('s = $(s) more\nuse := $(s)\n')).line).to.equal(1);
    });

    it('defaults act as := before the file; the file overrides them', () => {
      const vars = load('b := $(app)-x\napp := mine\n', { defaults: { app: 'dflt', other: 'o' } });
      expect(value(vars, 'b')).to.equal('dflt-x');
      expect(value(vars, 'app')).to.equal('mine');
      expect(vars.origin('other')).to.deep.equal({ file: '<defaults>', line: 0 });
      expect(vars.names()).to.deep.equal(['app', 'other', 'b']);
    });

    it('--set overrides win over the file, even for := captured earlier, and may reference variables', () => {
      const text = 'domain := example.org\nfqdn := host.$(domain)\ndomain += ignored\n';
      const vars = load(text, { overrides: { domain: 'test.$(tld)', tld: 'nl', extra: '$(fqdn)!' } });
      expect(value(vars, 'domain')).to.equal('test.nl');
      expect(value(vars, 'fqdn')).to.equal('host.test.nl');
      expect(value(vars, 'extra')).to.equal('host.test.nl!');
      expect(vars.origin('domain')).to.deep.equal({ file: '--set', line: 0 });
      expect(vars.has('extra')).to.equal(true);
      expect(vars.names()).to.deep.equal(['domain', 'fqdn', 'tld', 'extra']);
      expect(syntaxError(() => vars.override('bad', '$(shell id)')).file).to.equal('--set');
    });
  });

  it('parses a settings.mk.example in the seed\'s format unchanged', () => {
    const file = path.join(SEED_DIR, 'settings.mk.example');
    const vars = loadMakeVariables(readFileSync(file, 'utf8'), 'settings.mk', {
      env: { HOME: '/home/alice' },
      defaults: { app_name: 'postfix-tls-based-relaying' },
    });
    expect(value(vars, 'smtp_client_fqdn')).to.equal('mailhost.example.org');
    expect(value(vars, 'certs_passphrase_file')).to.equal('/home/alice/.relayhost-mailhost-passphrase.gpg');
    expect(value(vars, 'certs_virt_root')).to.equal('/etc/postfix-tls-based-relaying-ssl');
    expect(value(vars, 'cert_req_organization')).to.equal('Example Inc.');
    expect(value(vars, 'ca_certificate')).to.equal('certs/ca/example.org-ca.cert.pem');
    expect(value(vars, 'days')).to.equal('700');
    for (const name of vars.names()) expect(vars.resolve(name)!.undefinedRefs, name).to.deep.equal([]);
  });
});
