// Certificates with chosen dates, made by the real `openssl ca` with the project's own CA, database and
// host request (same key): near expiry with -days, already expired with a past -startdate/-enddate, a
// CRL past its nextUpdate with -crl_lastupdate/-crl_nextupdate. No clock is faked.
import { spawnSync } from 'node:child_process';
import { sh } from './certs.js';
import { PASSPHRASE, type TestProject } from './project.js';

/** openssl with `args` (which read the passphrase with -passin stdin) in the project directory. */
function openssl(p: TestProject, args: string[]): void {
  // The passphrase goes through a pipe, as the tool itself passes it.
  const r = spawnSync('openssl', args, { cwd: p.dir, input: `${PASSPHRASE}\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** `openssl ca` arguments (run in the project directory, passphrase on stdin) that re-sign host `fqdn`'s request with `dates`. */
export function reissueArgs(roleDir: 'smtp-client' | 'smtpd-server', fqdn: string, dates: string[]): string[] {
  const base = `certs/${roleDir}/${fqdn}`;
  return ['ca', '-batch', '-notext', '-config', 'certs/ca/openssl-ca.cnf', '-extfile', `${base}.cnf`, '-extensions', 'leaf_ext', ...dates, '-in', `${base}.csr.pem`, '-out', `${base}.crt.pem`, '-passin', 'stdin'];
}

/** Re-signs host `fqdn`'s request (role dir smtp-client or smtpd-server) with `dates`, e.g. ['-days', '10']. */
export function reissue(p: TestProject, roleDir: 'smtp-client' | 'smtpd-server', fqdn: string, dates: string[]): void {
  openssl(p, reissueArgs(roleDir, fqdn, dates));
}

/** A CRL with the given lastUpdate/nextUpdate (YYYYMMDDHHMMSSZ). */
export function crlWithDates(p: TestProject, crl: string, last: string, next: string): void {
  openssl(p, ['ca', '-batch', '-config', 'certs/ca/openssl-ca.cnf', '-gencrl', '-crl_lastupdate', last, '-crl_nextupdate', next, '-out', crl, '-passin', 'stdin']);
}

/** notAfter of a certificate as openssl prints it, in seconds since the epoch. */
export function notAfterSeconds(file: string): number {
  return Math.floor(Date.parse(sh(`openssl x509 -in '${file}' -noout -enddate`).trim().replace(/^notAfter=/, '')) / 1000);
}

export function notBeforeSeconds(file: string): number {
  return Math.floor(Date.parse(sh(`openssl x509 -in '${file}' -noout -startdate`).trim().replace(/^notBefore=/, '')) / 1000);
}

/** Whole days from now until notAfter, as openssl gives the date. */
export function daysLeft(file: string, now = Date.now()): number {
  return Math.floor((notAfterSeconds(file) * 1000 - now) / 86_400_000);
}
