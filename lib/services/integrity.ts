// What `status --check` fails on besides expiry: every state in which build would refuse or make
// something different from what was shipped, or deploy would refuse. One line each, with the fix.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { checkTrustChain } from '../ca/trust.js';
import { allHosts, caFiles, hostFiles } from '../files/layout.js';
import { octal, setIdEntries, wideKeys } from '../files/key-modes.js';
import { buildPlan } from '../plan/plan.js';
import { stale } from '../runner/staleness.js';
import type { ProjectState } from '../state/project.js';
import { openPgpKind } from '../secrets/openpgp.js';
import type { Settings } from '../settings/index.js';

const BUILD = 'run postfix-tls-relay build, then deploy';

function passphraseProblems(s: Settings): string[] {
  if (s.passphraseFile === undefined) return ['certs_passphrase_file is not set, so build cannot sign; set it in settings.mk (postfix-tls-relay init makes one)'];
  let data: Buffer;
  try {
    data = readFileSync(s.passphraseFile);
  } catch (err) {
    return [`certs_passphrase_file: ${s.passphraseFile} cannot be read (${(err as NodeJS.ErrnoException).code}), so build cannot sign; restore it from your backup`];
  }
  const kind = openPgpKind(data);
  if (kind !== 'encrypted-to-key' && kind !== 'not-openpgp') return [`certs_passphrase_file: ${s.passphraseFile} is not encrypted to a key (${kind}), so build refuses it; encrypt it with gpg --encrypt -r YOUR-KEY`];
  if (kind === 'not-openpgp') return [`certs_passphrase_file: ${s.passphraseFile} is not GnuPG data, so build cannot decrypt it; restore it from your backup`];
  return [];
}

function hostKeyProblems(s: Settings): string[] {
  const dir = s.projectDir;
  const out: string[] = [];
  for (const h of allHosts(s)) {
    const f = hostFiles(h);
    const has = (x: string) => existsSync(path.join(dir, x));
    if (!has(f.cert)) continue; // reported as a missing certificate
    if (!has(f.key)) {
      out.push(`${h.fqdn}: key ${f.key} is missing; build would make a new key and certificate (${BUILD} ${h.fqdn}), or restore the key from your backup`);
      continue;
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(readFileSync(path.join(dir, f.cert)));
    } catch {
      continue; // the trust chain check names it
    }
    let pub: Buffer;
    try {
      pub = createPublicKey(createPrivateKey(readFileSync(path.join(dir, f.key)))).export({ type: 'spki', format: 'der' });
    } catch {
      out.push(`${h.fqdn}: key ${f.key} is not a readable private key (damaged?); restore it from your backup, or delete it and ${f.cert} to give the host a new key`);
      continue;
    }
    if (!pub.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))) {
      out.push(`${h.fqdn}: key ${f.key} does not belong to ${f.cert} (another host's key?); restore the matching key, or delete both to give the host a new key and certificate`);
    }
  }
  return out;
}

function caDatabaseProblems(s: Settings): string[] {
  const ca = caFiles(s);
  const dir = s.projectDir;
  if (!existsSync(path.join(dir, ca.cert))) return [];
  return [ca.index, ca.indexAttr, ca.crlnumber]
    .filter((f) => !existsSync(path.join(dir, f)))
    .map((f) => `CA database ${f} is missing; build would start an empty one that forgets what this CA issued and revoked: restore it from your backup`);
}

/** Problems of the project on disk, in the order a reader fixes them. */
export function integrityProblems(s: Settings, state: ProjectState): string[] {
  const out: string[] = [...passphraseProblems(s)];
  try {
    checkTrustChain(s, state, { adopting: state.isForeignTree() });
  } catch (err) {
    out.push((err as Error).message);
  }
  out.push(...caDatabaseProblems(s));
  // The trust chain check or the key binding (status) may have named a key already.
  const named = [...out, ...state.keyProblems().map((k) => k.line)];
  out.push(...hostKeyProblems(s).filter((p) => !named.some((o) => o.includes(p.split(' ')[2]!))));
  const listed = state.builtAllowlistProblem();
  if (listed) out.push(listed);
  for (const f of setIdEntries(state.tree)) {
    out.push(`${f.file}: mode ${octal(f.mode)} has the ${f.mode & 0o4000 ? 'setuid' : 'setgid'} bit, which a host must never get with root's files (deploy strips it); chmod ug-s ${f.file}`);
  }
  for (const k of wideKeys(state.tree)) out.push(`${k.file}: a private key with mode ${octal(k.mode)}; chmod 600 ${k.file} (build does it too)`);
  const bundles = new Map<string, string[]>();
  for (const o of stale(buildPlan(s, state), state)) {
    const why = o.step.kind !== 'action' && o.reason?.startsWith(o.step.outputs[0] ?? '\0') ? o.reason : `${o.step.kind === 'action' ? o.step.title : o.step.outputs[0]}: ${o.reason}`;
    const bundle = /^out\/[^/]+\//.exec(o.step.outputs[0] ?? '')?.[0];
    if (bundle) bundles.set(bundle, [...(bundles.get(bundle) ?? []), why]);
    else out.push(`${why}; build would change it (${BUILD})`);
  }
  for (const [bundle, whys] of bundles) {
    out.push(`${bundle}: ${whys.length} file(s) missing or out of date (${whys[0]}${whys.length > 1 ? ', …' : ''}); build would change the bundle (${BUILD})`);
  }
  return [...new Set(out)];
}
