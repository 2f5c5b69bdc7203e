// What a project directory holds, and whether it is a complete, verifying build.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isCompletePem } from '../../lib/files/pem.js';
import { pubkeyFingerprint, verify } from './certs.js';

export interface Entry {
  type: 'file' | 'dir' | 'link';
  mode: number;
  size: number;
  sha256: string;
  /** Files only (a directory's time changes whenever a temp or lock file comes and goes). */
  mtimeMs: number;
}

/** Every path under `dir` (relative) with type, mode, size, content hash and (files) mtime. */
export function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const st = lstatSync(path.join(dir, r));
      if (st.isDirectory()) {
        out.set(r, { type: 'dir', mode: st.mode & 0o7777, size: 0, sha256: '', mtimeMs: 0 });
        walk(r);
      } else {
        const data = st.isFile() ? readFileSync(path.join(dir, r)) : Buffer.alloc(0);
        out.set(r, { type: st.isFile() ? 'file' : 'link', mode: st.mode & 0o7777, size: st.size, sha256: createHash('sha256').update(data).digest('hex'), mtimeMs: st.isFile() ? st.mtimeMs : 0 });
      }
    }
  };
  walk('');
  return out;
}

/** Files added, removed, or changed in content, mtime or mode between two snapshots (directories aside). */
export function changedFiles(before: Map<string, Entry>, after: Map<string, Entry>): string[] {
  const fileNames = (m: Map<string, Entry>) => [...m].filter(([, e]) => e.type !== 'dir').map(([n]) => n);
  const names = new Set([...fileNames(before), ...fileNames(after)]);
  return [...names].filter((n) => {
    const a = before.get(n);
    const b = after.get(n);
    return !a || !b || a.type !== b.type || a.sha256 !== b.sha256 || a.mtimeMs !== b.mtimeMs || a.mode !== b.mode;
  }).sort();
}

export function files(dir: string): string[] {
  return [...snapshot(dir)].filter(([, e]) => e.type === 'file').map(([r]) => r);
}

/** Our temp names: `.name.tmp` (command outputs) and `.name.tmp.<pid>` (files written by the tool). */
export const isTemp = (rel: string) => /(^|\/)\.[^/]+\.tmp(\.\d+)?$/.test(rel);

/** Files that are empty by design: the newcerts placeholder and an unused CA database. */
const MAY_BE_EMPTY = /(^|\/)(\.keep|index\.txt(\.old)?)$/;

/**
 * Invariants that hold at every instant, even right after a SIGKILL: each file that is not a temp file
 * is whole — PEM files are complete PEM, nothing else is empty unless it is so by design.
 */
export function expectNoPartialFiles(dir: string): void {
  for (const rel of files(dir)) {
    if (isTemp(rel) || rel.startsWith('.gnupg')) continue;
    const data = readFileSync(path.join(dir, rel));
    if (data.length === 0) {
      expect(rel, `${rel} is empty`).to.match(MAY_BE_EMPTY);
      continue;
    }
    if (rel.endsWith('.pem')) expect(isCompletePem(data), `${rel} is not complete PEM`).to.equal(true);
  }
}

export interface Layout {
  caKey: string;
  caCert: string;
  servers: string[];
  clients: string[];
}

export const exampleLayout = (domain = 'example.test', clients = ['mailhost'], server = 'relayhost'): Layout => ({
  caKey: `certs/ca/${domain}-ca.key.pem`,
  caCert: `certs/ca/${domain}-ca.crt.pem`,
  servers: [`${server}.${domain}`],
  clients: clients.map((c) => `${c}.${domain}`),
});

/** `openssl verify -x509_strict` of a project certificate for one TLS purpose. */
export function verifyFor(dir: string, caCert: string, cert: string, purpose: 'sslserver' | 'sslclient'): { ok: boolean; output: string } {
  return verify(path.join(dir, caCert), path.join(dir, cert), ['-x509_strict', '-purpose', purpose]);
}

/** A finished build: every certificate verifies for its purpose, the allowlist lists every client, bundles match, no temp file. */
export function expectCompleteTree(dir: string, l: Layout): void {
  const all = files(dir);
  expect(all.filter(isTemp), 'temp files left').to.deep.equal([]);
  expectNoPartialFiles(dir);
  for (const f of [l.caKey, l.caCert]) expect(all, f).to.include(f);
  const allow = readFileSync(path.join(dir, 'etc/postfix/relay_clientcerts'), 'utf8');
  for (const [role, fqdns, purpose] of [['smtpd-server', l.servers, 'sslserver'], ['smtp-client', l.clients, 'sslclient']] as const) {
    for (const fqdn of fqdns) {
      const base = `certs/${role}/${fqdn}`;
      for (const ext of ['key.pem', 'csr.pem', 'crt.pem', 'cnf']) expect(all, `${base}.${ext}`).to.include(`${base}.${ext}`);
      const v = verifyFor(dir, l.caCert, `${base}.crt.pem`, purpose);
      expect(v.ok, `${base}.crt.pem does not verify: ${v.output}`).to.equal(true);
      // The key is the certificate's.
      const keyPub = execFileSync('openssl', ['pkey', '-in', `${base}.key.pem`, '-pubout'], { cwd: dir, encoding: 'utf8' });
      expect(new X509Certificate(readFileSync(path.join(dir, `${base}.crt.pem`))).publicKey.export({ type: 'spki', format: 'pem' })).to.equal(keyPub);
      if (role === 'smtp-client') expect(allow).to.include(`${pubkeyFingerprint(path.join(dir, `${base}.crt.pem`))} ${fqdn}`);
      // The bundle carries the same files.
      const bundle = `out/${fqdn}/root/etc/postfix-tls-based-relaying`;
      for (const [src, dst] of [[`${base}.crt.pem`, `${bundle}/${role}/${fqdn}.crt.pem`], [`${base}.key.pem`, `${bundle}/${role}/${fqdn}.key.pem`], [l.caCert, `${bundle}/ca/${path.basename(l.caCert)}`]] as [string, string][]) {
        expect(readFileSync(path.join(dir, dst)).equals(readFileSync(path.join(dir, src))), `${dst} differs from ${src}`).to.equal(true);
      }
    }
  }
  expectCaDatabaseSound(dir);
}

/** index.txt is well-formed and every entry's certificate is in newcerts/; no serial twice. */
export function expectCaDatabaseSound(dir: string): void {
  const db = 'certs/ca/db';
  const lines = readFileSync(path.join(dir, db, 'index.txt'), 'utf8').split('\n').filter(Boolean);
  const serials = new Set<string>();
  for (const line of lines) {
    const f = line.split('\t');
    expect(f, `index.txt line "${line}"`).to.have.length(6);
    expect(f[0], line).to.match(/^[VRE]$/);
    expect(f[3], line).to.match(/^[0-9A-F]+$/);
    expect(serials.has(f[3]!), `serial ${f[3]} twice`).to.equal(false);
    serials.add(f[3]!);
    const pem = readFileSync(path.join(dir, db, 'newcerts', `${f[3]}.pem`));
    expect(new X509Certificate(pem).serialNumber.toUpperCase()).to.equal(f[3]);
  }
}
