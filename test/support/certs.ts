// Independent checks with the real openssl (never our own code): fingerprints, serials, verification;
// and file-tree snapshots to prove which files a command touched.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export function sh(cmd: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync('sh', ['-c', cmd], { cwd: opts.cwd, env: opts.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Public-key fingerprint as Postfix lists it, computed by openssl from a certificate or a private key. */
export function pubkeyFingerprint(file: string, from: 'cert' | 'key' = 'cert', digest = 'sha256'): string {
  const pub = from === 'cert' ? `openssl x509 -in ${q(file)} -noout -pubkey | openssl pkey -pubin -outform DER` : `openssl pkey -in ${q(file)} -pubout -outform DER`;
  return sh(`${pub} | openssl dgst -${digest} -c | sed 's/^.*= //' | tr a-f A-F`).trim();
}

/** Certificate fingerprint as openssl prints it. */
export function certFingerprint(file: string, digest = 'sha256'): string {
  return sh(`openssl x509 -in ${q(file)} -noout -fingerprint -${digest}`).trim().replace(/^[^=]*=/, '');
}

export function serialOf(file: string): string {
  return sh(`openssl x509 -in ${q(file)} -noout -serial`).trim().replace(/^serial=/, '');
}

/** `openssl verify`: exit code and combined output. */
export function verify(caFile: string, cert: string, extra: string[] = []): { ok: boolean; output: string } {
  const r = spawnSync('openssl', ['verify', ...extra, '-CAfile', caFile, cert], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** The allowlist's entries: fingerprint → fqdn (comments skipped). */
export function allowlistEntries(file: string): [string, string][] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => l.split(/\s+/) as [string, string]);
}

export interface FileState {
  hash: string;
  mtimeMs: number;
  mode: number;
}

/** Every file under `dir` (relative path → content hash, mtime, mode). */
export function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Map<string, FileState> {
  const out = new Map<string, FileState>();
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip(r)) continue;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) {
        const st = statSync(path.join(dir, r));
        out.set(r, { hash: createHash('sha256').update(readFileSync(path.join(dir, r))).digest('hex'), mtimeMs: st.mtimeMs, mode: st.mode & 0o777 });
      }
    }
  };
  walk('');
  return out;
}

/** Files added, removed, or changed in content, mtime or mode between two snapshots. */
export function changedFiles(before: Map<string, FileState>, after: Map<string, FileState>): string[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  return [...names].filter((n) => {
    const a = before.get(n);
    const b = after.get(n);
    return !a || !b || a.hash !== b.hash || a.mtimeMs !== b.mtimeMs || a.mode !== b.mode;
  }).sort();
}
