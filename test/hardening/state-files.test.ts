// Every record the tool keeps is read through its declared shape (issue 27): a cache of the wrong shape
// is dropped and rebuilt (a note at -v); a trust record of the wrong shape stops every command that
// would write or ship (exit 2, one line naming the file), and nothing changes. Each file is run
// through truncated, empty, null, array, wrong-typed, random-bytes and valid-but-foreign variants on a
// real project (a key rotation in progress, records of a deploy), with the real openssl and gpg.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { allHosts } from '../../lib/files/layout.js';
import { recordDeployments } from '../../lib/remote/deployments.js';
import { loadSettings } from '../../lib/settings/index.js';
import { readProjectState } from '../../lib/state/project.js';
import { recordRelaysDeployed } from '../../lib/state/relays-deployed.js';
import { useProject, type CliResult, type TestProject } from '../support/project.js';

const ALLOW = 'etc/postfix/relay_clientcerts';
const S = '.postfix-tls-relay';
const TRUST = [`${S}/rotations.json`, `${S}/relays-deployed.json`, `${S}/deployments.json`, 'certs/ca/db/index.txt'];
const CACHES = [`${S}/state.json`, `${S}/tree.json`, `${S}/cert-facts.json`, `${S}/up-to-date.json`, `${S}/lock`];

/** sha256 of every file under the trees that hold keys, the allowlist and the bundles (and, with `records`, the state directory). */
function contents(p: TestProject, records = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const root of ['certs', 'etc', 'out', ...(records ? [S] : [])]) {
    if (!existsSync(p.file(root))) continue;
    for (const e of readdirSync(p.file(root), { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const rel = path.relative(p.dir, path.join(e.parentPath, e.name));
      out[rel] = createHash('sha256').update(readFileSync(p.file(rel))).digest('hex');
    }
  }
  return out;
}

/** The first leaf of a JSON value given another type: a string becomes 42, anything else "x". */
function wrongTyped(text: string): string {
  const v = JSON.parse(text) as unknown;
  const swap = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.length ? [swap(x[0]), ...x.slice(1)] : [42];
    if (x !== null && typeof x === 'object') {
      const [k, first] = Object.entries(x)[0] ?? ['k', undefined];
      return { ...x, [k]: first === undefined ? 42 : swap(first) };
    }
    return typeof x === 'string' ? 42 : 'x';
  };
  return JSON.stringify(swap(v));
}

/** Bytes that are neither JSON nor text, the same on every run. */
const randomBytes = (file: string) => Buffer.concat([0, 1, 2, 3].map((i) => createHash('sha256').update(`${file}${i}`).digest()));

interface Variant {
  name: string;
  make(valid: Buffer, file: string, foreign: Buffer): Buffer | string;
}

const VARIANTS: Variant[] = [
  { name: 'truncated', make: (v) => v.subarray(0, Math.floor(v.length / 2)) },
  { name: 'empty', make: () => '' },
  { name: 'null', make: () => 'null\n' },
  { name: 'an array', make: () => '[1,2]\n' },
  { name: 'wrong-typed', make: (v, file) => (file.endsWith('index.txt') ? v.toString('utf8').replace(/^(V\t[^\t]*\t[^\t]*\t)[0-9A-F]+/m, '$1zz') : file.endsWith('lock') ? 'pid\n' : wrongTyped(v.toString('utf8'))) },
  { name: 'random bytes', make: (_v, file) => randomBytes(file) },
  { name: 'valid but foreign', make: (_v, _f, foreign) => foreign },
];

// openssl's own database may be empty (a CA that has issued nothing yet), and the lock holds a pid
// written whole from its first byte (a truncated pid is another pid): these two variants do not apply.
const applies = (file: string, v: Variant) => !(file.endsWith('index.txt') && v.name === 'empty') && !(file.endsWith('lock') && v.name === 'truncated');

const errorLines = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('postfix-tls-relay: '));

function expectNoInternalError(r: CliResult): void {
  expect(r.stderr + r.stdout).not.to.match(/TypeError|Cannot read properties|is not a function|at .*\.js:\d+/);
}

describe('hardening: every state file is read through its declared shape', function () {
  this.timeout(600_000);
  const fx = useProject({ each: false });
  const valid = new Map<string, Buffer>();

  before(() => {
    const p = fx.p;
    for (const args of [['build', '-q'], ['renew', 'mailhost', '--rekey', '-q'], ['status', '-q']]) {
      // status keeps the certificates' facts only when they are over a second old (cert-facts.ts).
      if (args[0] === 'status') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
      const r = p.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
    }
    // What a deploy leaves, written by the tool's own writers (the lab tests run real deploys).
    const s = loadSettings({ projectDir: p.dir, env: p.env });
    recordRelaysDeployed(readProjectState(s), s.servers.map((r) => r.fqdn));
    recordDeployments(s, 'deploy', allHosts(s).map((host) => ({ host, ok: true })));
    writeFileSync(p.file(`${S}/lock`), '999999999\n'); // a killed run's: no such process
    expect(p.cli(['build', '-q']).code).to.equal(0); // takes the lock over, and leaves everything up to date
    writeFileSync(p.file(`${S}/lock`), '999999999\n');
    for (const f of [...TRUST, ...CACHES]) {
      expect(existsSync(p.file(f)), f).to.equal(true);
      valid.set(f, readFileSync(p.file(f)));
    }
    rmSync(p.file(`${S}/lock`));
    expect(readFileSync(p.file(ALLOW), 'utf8').trim().split('\n').filter((l) => l.includes('mailhost'))).to.have.length(2); // old and new key
  });

  const all = [...TRUST, ...CACHES];
  const foreignOf = (f: string) => valid.get(all[(all.indexOf(f) + 1) % all.length]!)!;
  const restore = (f: string) => writeFileSync(fx.p.file(f), valid.get(f)!);

  for (const file of TRUST) {
    describe(`${file} (a trust record)`, () => {
      afterEach(() => restore(file));
      for (const v of VARIANTS.filter((x) => applies(file, x))) {
        it(`${v.name}: build and deploy -n stop with one line naming it, exit 2; keys, allowlist and bundles unchanged`, () => {
          const p = fx.p;
          const bad = v.make(valid.get(file)!, file, foreignOf(file));
          writeFileSync(p.file(file), bad);
          const before = contents(p, true);
          for (const args of [['build', '-q'], ['deploy', '-n', '-q']]) {
            const r = p.cli(args);
            expectNoInternalError(r);
            expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
            expect(errorLines(r), r.stderr).to.have.length(1);
            expect(errorLines(r)[0]).to.match(new RegExp(`^postfix-tls-relay: ${file.replace(/[.]/g, '\\.')}: .+; .*(restore|delete)`));
          }
          expect(contents(p, true)).to.deep.equal(before);
          // Read-only commands name it too, or do not need it; never an internal error.
          const st = p.cli(['status', '--check', '-q']);
          expectNoInternalError(st);
          if (st.code !== 0) expect(errorLines(st).join('\n'), st.stderr).to.include(file);
        });
      }

      it('wrong-typed: renew, revoke, crl and add-client stop too, nothing changed (settings.mk neither)', () => {
        const p = fx.p;
        const v = VARIANTS.find((x) => x.name === 'wrong-typed')!;
        writeFileSync(p.file(file), v.make(valid.get(file)!, file, foreignOf(file)));
        const before = { ...contents(p, true), settings: readFileSync(p.file('settings.mk'), 'utf8') };
        for (const args of [['renew', 'mailhost', '-q'], ['renew', '--all', '--rekey', '-q'], ['revoke', 'mailhost', '-q'], ['crl', '-q'], ['add-client', 'newhost', '-q'], ['renew', '--finish', 'mailhost', '-q']]) {
          const r = p.cli(args);
          expectNoInternalError(r);
          expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
          expect(errorLines(r).join('\n'), `${args.join(' ')}: ${r.stderr}`).to.include(`${file}: `);
        }
        expect({ ...contents(p, true), settings: readFileSync(p.file('settings.mk'), 'utf8') }).to.deep.equal(before);
      });
    });
  }

  for (const file of CACHES) {
    describe(`${file} (a cache)`, () => {
      afterEach(() => {
        if (file.endsWith('lock')) rmSync(fx.p.file(file), { force: true });
      });
      for (const v of VARIANTS.filter((x) => applies(file, x))) {
        it(`${v.name}: dropped with a note at -v and rebuilt; build and status --check succeed, nothing else changes`, () => {
          const p = fx.p;
          const before = contents(p);
          writeFileSync(p.file(file), v.make(valid.get(file)!, file, foreignOf(file)));
          // Without the stamp every record is read: the long way, where each cache is asked.
          if (!file.endsWith('up-to-date.json')) rmSync(p.file(`${S}/up-to-date.json`), { force: true });
          const r = p.cli(['build', '-v']);
          expectNoInternalError(r);
          expect(r.code, r.stderr).to.equal(0);
          expect(errorLines(r), r.stderr).to.deep.equal([]);
          const s = p.cli(['status', '-v']); // status reads what a build need not (cert-facts.json)
          expectNoInternalError(s);
          expect(r.stderr + s.stderr, 'the note at -v').to.match(new RegExp(`^${file.replace(/[.]/g, '\\.')}: .*; dropped`, 'm'));
          const q = p.cli(['build', '-q']);
          expect(q.code, q.stderr).to.equal(0);
          expect(q.stderr).to.equal('');
          const st = p.cli(['status', '--check', '-q']);
          expect(st.code, st.stderr).to.equal(0);
          expect(contents(p)).to.deep.equal(before);
          // Rebuilt (or, for the lock, released): the file is no longer what was written.
          if (file.endsWith('lock')) expect(existsSync(p.file(file))).to.equal(false);
          else if (existsSync(p.file(file))) expect(() => JSON.parse(readFileSync(p.file(file), 'utf8')) as unknown).not.to.throw();
        });
      }
    });
  }
});
