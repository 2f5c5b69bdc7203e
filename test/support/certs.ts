// Independent checks with the real openssl (never our own code): fingerprints, serials, verification.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
