// Every record the tool keeps and reads back, with its declared shape (files/schema.ts), checked on
// every read. Two kinds:
// - a cache (state.json, tree.json, cert-facts.json, up-to-date.json, the lock) costs only time when
//   lost: one of the wrong shape is dropped (a note at -v) and the run rebuilds it;
// - a trust record (rotations.json, relays-deployed.json, deployments.json, keys.json, the CA database index.txt)
//   says which keys the relay must still accept, which hosts have what, what is revoked: one of the
//   wrong shape stops the run (exit 2) with one line naming the file, what is wrong and what to do,
//   before anything is written or shipped (state/trust-records.ts checks them all up front).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { arrayOf, bool, describeProblem, nullable, num, object, oneOf, recordOf, refine, str, tuple, type Of, type Shape } from './schema.js';
import { CERT_FACTS_FILE, DEPLOYMENTS_FILE, KEYS_FILE, LOCK_FILE, RELAYS_DEPLOYED_FILE, ROTATIONS_FILE, STATE_FILE, TREE_FILE, UP_TO_DATE_FILE } from './layout.js';

export interface StateFile<T> {
  readonly file: string;
  readonly kind: 'cache' | 'trust';
  readonly shape: Shape<T>;
  /** The file's text as a value; JSON when not given. */
  readonly parse?: (text: string) => unknown;
  /** What to do when a trust record is wrong. */
  readonly fix?: string;
}

const isCertificate = (pem: string) => {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
};

// ---- trust records ------------------------------------------------------------------------------

const previousCert = object({ serial: str, notAfter: str, pem: refine(str, isCertificate, 'a PEM certificate') });
const rotation = object({ fqdn: str, reason: oneOf('rekey', 'renew'), started: str, previous: arrayOf(previousCert) });
export const ROTATIONS = {
  file: ROTATIONS_FILE,
  kind: 'trust',
  shape: object({ rotations: arrayOf(rotation) }),
  fix: 'restore it from your backup (or, if no client is between two keys, delete it: the relay then lists only current certificates)',
} as const satisfies StateFile<unknown>;
export type RotationRecord = Of<typeof rotation>;

const relayDeployed = object({ allowlist: str, at: str });
export const RELAYS_DEPLOYED = {
  file: RELAYS_DEPLOYED_FILE,
  kind: 'trust',
  shape: object({ relays: recordOf(relayDeployed) }),
  fix: 'restore it from your backup or delete it (every relay then counts as not deployed by this tool until its next deploy)',
} as const satisfies StateFile<unknown>;
export type RelayDeployedRecord = Of<typeof relayDeployed>;

const hostRecord = object({ role: oneOf('client', 'server'), source: oneOf('deploy', 'check', 'undeploy'), time: str, ok: bool, bundle: nullable(str) });
export const DEPLOYMENTS = {
  file: DEPLOYMENTS_FILE,
  kind: 'trust',
  shape: object({ hosts: recordOf(hostRecord) }, { version: num }),
  fix: 'restore it from your backup or delete it (every host then counts as not deployed until the next deploy or check)',
} as const satisfies StateFile<unknown>;
export type HostRecordShape = Of<typeof hostRecord>;

const keyFp = refine(str, (fp) => /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/.test(fp), 'a sha256 fingerprint (upper-case colon hex)');
/** keys.json (state/key-identities.ts): version 1 only, the one this tool writes. */
export const KEY_IDENTITIES = {
  file: KEYS_FILE,
  kind: 'trust',
  shape: object({
    version: refine(num, (n) => n === 1, 'version 1'),
    hosts: recordOf(object({ key: str, fp: keyFp, id: str })),
    revoked: arrayOf(object({ fp: keyFp, spki: str, fqdn: str, serial: str, ca: str })),
  }),
  fix: 'which key belongs to which host (and which keys were revoked) is unknown, so nothing is built or shipped; restore it from your backup (or, having checked every key, move it away: the next build records the keys as they are)',
} as const satisfies StateFile<unknown>;

/** openssl ca's database: status, expiry, revocation, serial, file, subject, tab-separated, a line each. */
const indexLines: Shape<string[][]> = (v) => {
  const lines = v as string[][];
  for (let i = 0; i < lines.length; i++) {
    const f = lines[i]!;
    if (f.length === 1 && f[0] === '') continue;
    const ok = f.length === 6 && (f[0] === 'V' || f[0] === 'R' || f[0] === 'E') && /^[0-9A-Fa-f]+$/.test(f[3]!) && (f[0] !== 'R' || f[2] !== '');
    if (!ok) return { path: [], what: `line ${i + 1} is not an openssl ca database line (status V, R or E, expiry, revocation, serial, file, subject, separated by tabs)` };
  }
  return undefined;
};
export const CA_INDEX = {
  file: 'certs/ca/db/index.txt', // caFiles(s).index, whatever the domain
  kind: 'trust',
  shape: indexLines,
  parse: (text: string) => text.split('\n').map((l) => l.split('\t')),
  fix: 'restore the CA database from your backup (it lists every certificate issued and revoked)',
} as const satisfies StateFile<unknown>;

/** Every trust record (checked before a command writes or ships); keys.json is checked as its owner reads it (ProjectState.keyIdentities). */
export const TRUST_RECORDS: readonly StateFile<unknown>[] = [ROTATIONS, RELAYS_DEPLOYED, DEPLOYMENTS, CA_INDEX];

// ---- caches -------------------------------------------------------------------------------------

const outputRecord = object({ sha256: str, size: num, ino: num, mtimeMs: num, ctimeMs: num });
export const RECORDS = {
  file: STATE_FILE,
  kind: 'cache',
  // Older versions wrote no "accepted" or "checked".
  shape: object({ recipes: recordOf(str), outputs: recordOf(outputRecord) }, { accepted: recordOf(recordOf(str)), checked: recordOf(str) }),
} as const satisfies StateFile<unknown>;

export const TREE = {
  file: TREE_FILE,
  kind: 'cache',
  shape: object({ dirs: recordOf(tuple(num, num, num, str)) }),
} as const satisfies StateFile<unknown>;

const certFact = object({ id: str, fp: str, serial: str, notBefore: num, notAfter: num, fingerprint: str });
export const CERT_FACTS = {
  file: CERT_FACTS_FILE,
  kind: 'cache',
  shape: object({ certs: recordOf(certFact) }),
} as const satisfies StateFile<unknown>;
export type CertFact = Of<typeof certFact>;

export const UP_TO_DATE = {
  file: UP_TO_DATE_FILE,
  kind: 'cache',
  shape: object({ plan: str, tree: str, records: str }, { fresh: recordOf(nullable(str)) }),
} as const satisfies StateFile<unknown>;

/** The lock holds its owner's pid; anything else is no owner (a killed run's lock): taken over. */
export const LOCK = {
  file: LOCK_FILE,
  kind: 'cache',
  shape: refine(num, (n) => Number.isSafeInteger(n) && n > 0, 'a process id'),
  parse: (text: string) => (/^[0-9]{1,10}\n?$/.test(text) ? Number(text.trim()) : text),
} as const satisfies StateFile<unknown>;

export const CACHES: readonly StateFile<unknown>[] = [RECORDS, TREE, CERT_FACTS, UP_TO_DATE, LOCK];

// ---- reading ------------------------------------------------------------------------------------

let noteSink: (line: string) => void = () => {};

/** Where the notes on dropped caches go (the CLI shows them at -v). */
export function onStateFileNote(sink: (line: string) => void): void {
  noteSink = sink;
}

/** What is wrong with `text` as `decl`'s file, or undefined. `value` receives the parsed value. */
function problemOf<T>(decl: StateFile<T>, text: string, out: { value?: T }): string | undefined {
  if (!decl.parse && text.trim() === '') return 'empty';
  let v: unknown;
  if (decl.parse) v = decl.parse(text);
  else {
    try {
      v = JSON.parse(text);
    } catch {
      return 'not valid JSON';
    }
  }
  const p = decl.shape(v);
  if (p === undefined) out.value = v as T;
  return p && describeProblem(p);
}

/**
 * The record as declared; undefined when the file is missing, or when it is a cache of the wrong shape
 * (dropped: a note at -v, and the run rebuilds it). A trust record of the wrong shape is a UsageError
 * (exit 2) naming the file, what is wrong and what to do.
 */
export function readStateFile<T>(decl: StateFile<T>, data: string | Buffer | undefined): T | undefined {
  if (data === undefined) return undefined;
  const out: { value?: T } = {};
  const problem = problemOf(decl, typeof data === 'string' ? data : data.toString('utf8'), out);
  if (problem === undefined) return out.value;
  if (decl.kind === 'trust') throw new UsageError(`${decl.file}: ${problem}; ${decl.fix ?? 'restore it from your backup'}`);
  noteSink(`${decl.file}: ${problem}; dropped (a cache: this run rebuilds it)`);
  return undefined;
}

/** readStateFile of the file in `projectDir`: missing is undefined; unreadable is wrong (as its kind says). */
export function loadStateFile<T>(projectDir: string, decl: StateFile<T>): T | undefined {
  let data: Buffer;
  try {
    data = readFileSync(path.join(projectDir, decl.file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (decl.kind === 'trust') throw new UsageError(`${decl.file}: cannot be read (${code}); ${decl.fix ?? 'restore it from your backup'}`);
    noteSink(`${decl.file}: cannot be read (${code}); dropped (a cache: this run rebuilds it)`);
    return undefined;
  }
  return readStateFile(decl, data);
}
