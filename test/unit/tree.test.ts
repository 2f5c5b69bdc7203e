// The project's trees scanned once: directory listings remembered by the directory's identity, and a
// digest that changes with any change to any entry (real files in a temp directory).
import { expect } from 'chai';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProjectTree } from '../../lib/files/tree.js';
import { TREE_FILE } from '../../lib/files/layout.js';

const settle = () => new Promise((r) => setTimeout(r, 1100)); // past the one-second racy window
const none = () => false;
/** Every entry's path, in scan order. */
const paths = (t: ProjectTree) => {
  const out: string[] = [];
  t.someEntry((rel) => (out.push(rel), false));
  return out;
};

describe('the project tree scan', function () {
  this.timeout(20_000);
  let dir = '';
  const f = (rel: string) => path.join(dir, rel);
  const put = (rel: string, text = 'x\n') => {
    mkdirSync(path.dirname(f(rel)), { recursive: true, mode: 0o700 });
    writeFileSync(f(rel), text, { mode: 0o600 });
  };

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-tree-'));
    chmodSync(dir, 0o700);
    put('certs/ca/a.pem');
    put('out/h.example.test/root/etc/x/cert.pem');
    put('out/h.example.test/apply.sh');
    mkdirSync(f('.postfix-tls-relay'), { mode: 0o700 });
    await settle();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lists every entry, and reads no directory again while none changed', () => {
    const first = ProjectTree.scan(dir);
    expect(first.dirsRead).to.be.greaterThan(5);
    expect(first.lookup('out/h.example.test/root/etc/x/cert.pem')?.isFile()).to.equal(true);
    expect(first.lookup('out/h.example.test/root/etc/x/missing.pem'), 'known missing: its directory was listed').to.equal(null);
    expect(first.lookup('elsewhere/file'), 'outside the trees: unknown').to.equal(undefined);
    first.save();
    const again = ProjectTree.scan(dir);
    expect(again.dirsRead, 'only the state directory, which every run changes').to.equal(1);
    expect(paths(again)).to.deep.equal([...paths(first), TREE_FILE]);
  });

  it('reads a directory again when an entry was added, and sees the new entry', async () => {
    ProjectTree.scan(dir).save();
    put('out/h.example.test/root/etc/x/.cert.pem.tmp.99');
    const t = ProjectTree.scan(dir);
    expect(t.dirsRead).to.equal(2);
    expect(t.names('out/h.example.test/root/etc/x')).to.include('.cert.pem.tmp.99');
  });

  it('sees a chmod (only the entry changes), and the digest changes with it', () => {
    ProjectTree.scan(dir).save();
    chmodSync(f('certs/ca/a.pem'), 0o644);
    const after = ProjectTree.scan(dir);
    expect(after.dirsRead).to.equal(1);
    expect((after.lookup('certs/ca/a.pem')!.mode & 0o777).toString(8)).to.equal('644');
    expect(after.digest(none), 'just changed: too recent to tell').to.equal(undefined);
  });

  it('gives the same digest for the same trees, another once anything changed (and settled)', async () => {
    const d0 = ProjectTree.scan(dir).digest(none);
    expect(d0).to.be.a('string');
    expect(ProjectTree.scan(dir).digest(none)).to.equal(d0);
    writeFileSync(f('out/h.example.test/apply.sh'), 'y\n'); // same size, in place: the directory does not change
    await settle();
    const d1 = ProjectTree.scan(dir).digest(none);
    expect(d1).to.be.a('string').and.not.equal(d0);
    utimesSync(f('out/h.example.test/apply.sh'), new Date(0), new Date(0)); // times put back: ctime still moves
    await settle();
    expect(ProjectTree.scan(dir).digest(none)).to.not.equal(d1);
  });

  it('has no digest while an entry is a symbolic link (what it points to can change unseen)', async () => {
    symlinkSync(f('certs/ca/a.pem'), f('out/h.example.test/link.pem'));
    await settle();
    expect(ProjectTree.scan(dir).digest(none)).to.equal(undefined);
  });

  it('has no digest once something in it was written (forgotten)', () => {
    const t = ProjectTree.scan(dir);
    expect(t.digest(none)).to.be.a('string');
    t.forget('certs/ca/a.pem');
    expect(t.digest(none)).to.equal(undefined);
    expect(t.lookup('certs/ca/a.pem'), 'unknown, not missing').to.equal(undefined);
  });

  it('a damaged or hostile tree.json only costs a full read', () => {
    const st = lstatSync(f('certs'));
    // The real identity, with names that point outside.
    writeFileSync(f(TREE_FILE), JSON.stringify({ dirs: { certs: [st.ino, st.mtimeMs, st.ctimeMs, '../../etc/ca'], out: 7 } }));
    const t = ProjectTree.scan(dir);
    expect(t.someEntry((r) => r.includes('..'))).to.equal(false);
    expect(t.lookup('certs/ca/a.pem')?.isFile()).to.equal(true);
    writeFileSync(f(TREE_FILE), 'not json');
    expect(ProjectTree.scan(dir).lookup('out/h.example.test/apply.sh')?.isFile()).to.equal(true);
  });
});
