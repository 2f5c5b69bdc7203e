// What the project is now: the CA certificate and database, every host's certificate with its facts,
// rotations in progress, revocations, and the records of what the tool wrote. Read once per session
// (each file at most once, lazily), handed to the plan, and kept true by the runner, which tells it
// what it wrote. Nothing else in lib/ reads these files.
import { fingerprint } from '../ca/fingerprint.js';
import { parseCert, signedBy, type CertFacts } from '../ca/cert.js';
import { parseIndex, type IndexEntry } from '../ca/database.js';
import { parseRotations, saveRotations, type Rotation } from '../ca/rotations.js';
import { ALLOWLIST, allHosts, caFiles, hostFiles, KEYS_FILE, ROTATIONS_FILE, type CaFiles } from '../files/layout.js';
import { RunError } from '../errors.js';
import type { Settings } from '../settings/index.js';
import { parseAllowlist, type AllowlistEntry } from '../postfix/allowlist.js';
import { checkTreeOwnership } from '../files/ownership.js';
import { readStateFile, TRUST_RECORDS } from '../files/state-files.js';
import { DiskState } from './disk.js';
import { CertCache, type CertSummary } from './cert-facts.js';
import type { Records } from './records.js';
import { parseKeyIdentities, saveKeyIdentities, type KeyIdentities, type RevokedKey } from './key-identities.js';
import { bindKeys, keyFingerprint, keyMade, revokedKeys, type KeyProblem } from './key-binding.js';
import { allowlistProblem } from './allowlist-guard.js';

export class ProjectState extends DiskState {
  readonly ca: CaFiles;
  private readonly certs = new Map<string, CertFacts | null>();
  private readonly summaries = new Map<string, CertSummary | null>();
  private facts: CertCache | undefined;
  private indexCache: IndexEntry[] | undefined;
  private revokedCache: ReadonlySet<string> | undefined;
  private rotationsCache: Rotation[] | undefined;
  private keyIds: KeyIdentities | undefined;
  private keysDirty = false;

  constructor(readonly settings: Settings, records?: Records) {
    super(settings.projectDir, records);
    this.ca = caFiles(settings);
  }

  /** A certificate of the project (relative path), parsed once. */
  cert(rel: string): CertFacts | undefined {
    let c = this.certs.get(rel);
    if (c === undefined) {
      c = parseCert(this.read(rel)) ?? null;
      this.certs.set(rel, c);
    }
    return c ?? undefined;
  }

  caCert(): CertFacts | undefined {
    return this.cert(this.ca.cert);
  }

  /**
   * A certificate's serial, validity and fingerprint: remembered by the file's identity across runs
   * (cert-facts.json), so that a fleet's unchanged certificates are not read and parsed again.
   */
  summary(rel: string): CertSummary | undefined {
    let sum = this.summaries.get(rel);
    if (sum !== undefined) return sum ?? undefined;
    const st = this.stat(rel);
    const kind = `${this.settings.fingerprintDigest}:${this.settings.fingerprintKind}`;
    this.facts ??= CertCache.load(this.dir);
    sum = st ? this.facts.get(rel, st, kind) : undefined;
    if (sum === undefined && st) {
      const c = this.cert(rel);
      if (c) {
        sum = { serial: c.serial, notBefore: c.notBefore.getTime(), notAfter: c.notAfter.getTime(), fingerprint: fingerprint(c.x509, this.settings.fingerprintDigest, this.settings.fingerprintKind) };
        this.facts.set(rel, st, kind, sum);
      }
    }
    this.summaries.set(rel, sum ?? null);
    return sum ?? undefined;
  }

  /** The certificate's fingerprint as the relay's allowlist lists it (fingerprint_kind, signature_hash). */
  fingerprint(rel: string): string | undefined {
    return this.summary(rel)?.fingerprint;
  }

  /** index.txt of the CA database; empty before there is one. */
  index(): readonly IndexEntry[] {
    this.indexCache ??= parseIndex(this.text(this.ca.index));
    return this.indexCache;
  }

  /** Serials marked revoked ("R") in the CA database. */
  revoked(): ReadonlySet<string> {
    this.revokedCache ??= new Set(this.index().filter((e) => e.status === 'R').map((e) => e.serial));
    return this.revokedCache;
  }

  /** Is the host's current certificate revoked? */
  isRevoked(certRel: string): boolean {
    const revoked = this.revoked();
    if (revoked.size === 0) return false; // no certificate to read
    const serial = this.summary(certRel)?.serial;
    return serial !== undefined && revoked.has(serial);
  }

  rotations(): readonly Rotation[] {
    this.rotationsCache ??= parseRotations(this.text(ROTATIONS_FILE));
    return this.rotationsCache;
  }

  /** Rotation bookkeeping changes: written at once (atomically), and seen by every later question. */
  setRotations(rotations: readonly Rotation[]): void {
    saveRotations(this.dir, rotations);
    this.invalidate(ROTATIONS_FILE);
    this.rotationsCache = [...rotations].sort((a, b) => a.fqdn.localeCompare(b.fqdn));
  }

  /** The names in a directory of the trees as scanned (the key binding looks for retired keys). */
  names(dirRel: string): readonly string[] | undefined {
    return this.tree.names(dirRel);
  }

  /** keys.json: each host's key identity and the revoked keys (a damaged record is an error, exit 2). */
  keyIdentities(): KeyIdentities {
    this.keyIds ??= parseKeyIdentities(this.text(KEYS_FILE));
    return this.keyIds;
  }

  private setKeyIdentities(k: KeyIdentities): void {
    saveKeyIdentities(this.dir, k);
    this.invalidate(KEYS_FILE);
    this.keyIds = k;
    this.keysDirty = false;
  }

  /**
   * Keys made during a run are recorded in memory and written once, when the run sums up what it wrote
   * (changedSinceScan, save): a fleet's first build makes a thousand keys, and a killed run's keys are
   * found unrecorded and recorded by the next one.
   */
  private flushKeys(): void {
    if (this.keysDirty && this.keyIds) this.setKeyIdentities(this.keyIds);
  }

  override changedSinceScan(): Set<string> {
    this.flushKeys();
    return super.changedSinceScan();
  }

  /** Keys held by the wrong host, changed outside the tool or revoked (status --check lists them). */
  keyProblems(): KeyProblem[] {
    return bindKeys(this, this.keyIdentities()).problems;
  }

  /**
   * Before anything is written or shipped: refuses (exit 1, the first problem's line) a key that is
   * another host's, no longer the recorded one, or revoked. `record()` (holding the lock, once every other
   * check passed): keys seen for the first time (adoption, an upgrade) and new revocations are written to
   * keys.json. `skip`: hosts re-keyed now.
   */
  bindKeys(opts: { skip?: ReadonlySet<string>; settings?: Settings } = {}): { record(): void } {
    const r = bindKeys(this, this.keyIdentities(), opts.skip, opts.settings);
    if (r.problems.length) throw new RunError(r.problems[0]!.line);
    return { record: () => r.changed && this.setKeyIdentities(r.next) };
  }

  /** The runner made a new key at `rel` (call holding the lock): it is the host's key from now on. */
  override keyMade(rel: string): void {
    const fqdn = /^certs\/(?:smtp-client|smtpd-server)\/([^/]+)\.key\.pem$/.exec(rel)?.[1];
    const host = fqdn === undefined ? undefined : { fqdn };
    if (!host) return;
    this.invalidate(rel);
    const pem = this.read(rel);
    if (!pem) return;
    const before = this.keyIdentities();
    this.keyIds = keyMade(before, host.fqdn, rel, pem);
    this.keysDirty = true;
    // A host's new key replacing a recorded one (a key deleted with its certificate) is written now: the
    // next run must not take it for a key changed outside the tool. A first key can wait for the flush.
    if (before.hosts[host.fqdn]) this.flushKeys();
  }

  /** The revoked keys, the CA database's new revocations included (recorded when `write`). */
  revokedKeys(write = false): readonly RevokedKey[] {
    const ids = this.keyIdentities();
    const r = revokedKeys(this, ids);
    if (write && r.added) {
      this.keyIds = { hosts: ids.hosts, revoked: r.list };
      this.keysDirty = true;
    }
    return r.list;
  }

  /** Records the CA database's revocations in keys.json now (clean, before the database is archived). */
  keepRevokedKeys(): void {
    this.revokedKeys(true);
    this.flushKeys();
  }

  /** What is wrong with the allowlist as built (a fingerprint twice, a revoked key), for status --check. */
  builtAllowlistProblem(): string | undefined {
    const text = this.text(ALLOWLIST);
    return text === undefined ? undefined : allowlistProblem(text, this.settings, this.revokedKeys(), () => undefined, true);
  }

  /** Refuses (exit 1) an allowlist that lists a fingerprint twice or a revoked key: checked on the rendered text. */
  checkAllowlist(text: string): void {
    const certKey = (rel: string) => {
      const c = this.cert(rel);
      return c && keyFingerprint(c.x509.publicKey.export({ type: 'spki', format: 'der' }));
    };
    const p = allowlistProblem(text, this.settings, this.revokedKeys(true), certKey);
    if (p) throw new RunError(p);
  }

  /**
   * Every trust record read through its declared shape (files/state-files.ts): called before a command
   * writes or ships anything, so that one of the wrong shape stops it (exit 2) with nothing changed.
   */
  checkTrustRecords(): void {
    for (const decl of TRUST_RECORDS) readStateFile(decl, this.readChecked(decl.file));
    this.keyIdentities(); // keys.json: the same declared shape, read once and kept (state/key-identities.ts)
  }

  /** A CA certificate without a CA database: the tree came from elsewhere (the seed Makefile). */
  isForeignTree(): boolean {
    return this.exists(this.ca.cert) && !this.exists(this.ca.index);
  }

  /**
   * Host certificates signed by our CA key that the CA database does not know (relative paths). A
   * certificate found in the database stays there (revoking changes its entry, never removes it): that
   * is remembered by the certificate's identity, so a no-op build of a fleet parses no certificate.
   */
  unrecorded(): string[] {
    if (!this.exists(this.ca.cert)) return [];
    let known: Set<string> | undefined;
    const found: string[] = [];
    for (const h of allHosts(this.settings)) {
      const rel = hostFiles(h).cert;
      const tag = `recorded:${rel}`;
      const files = [rel, this.ca.cert];
      if (this.remembered(tag, files)) continue;
      const c = this.cert(rel);
      const ca = this.caCert();
      if (c === undefined || ca === undefined) continue;
      known ??= new Set(this.index().map((e) => e.serial));
      if (known.has(c.serial)) this.remember(tag, files);
      else if (signedBy(c, ca)) found.push(rel);
    }
    return found;
  }

  /** The allowlist as built now; undefined before the first build. */
  allowlist(): AllowlistEntry[] | undefined {
    const text = this.text(ALLOWLIST);
    return text === undefined ? undefined : parseAllowlist(text);
  }

  protected override forgetFacts(rel: string): void {
    this.certs.delete(rel);
    this.summaries.delete(rel);
    if (rel === this.ca.index) {
      this.indexCache = undefined;
      this.revokedCache = undefined;
    }
    if (rel === ROTATIONS_FILE) this.rotationsCache = undefined;
    if (rel === KEYS_FILE && !this.keysDirty) this.keyIds = undefined;
  }

  override save(): void {
    this.flushKeys();
    super.save();
    this.facts?.save(this.dir);
  }

  /** Whether this run learned facts of certificates it has not kept yet. */
  get factsLearned(): boolean {
    return this.facts?.changed ?? false;
  }

  /** Keeps what this run learned of the certificates (call holding the project lock). */
  keepFacts(): void {
    this.facts?.save(this.dir);
  }

  override databaseChanged(): void {
    for (const f of [this.ca.index, this.ca.indexAttr, this.ca.crlnumber]) this.invalidate(f);
    // openssl ca also renames the database files (.old, .new) and adds the certificate to newcerts/.
    this.changedInPlace(this.ca.dbDir, 'all');
    this.changedInPlace(this.ca.newcerts, 'added');
  }
}

/**
 * The project's state for one session. Its trees are scanned now, and refused (exit 1, one line with the
 * fix) when another user owns or can write anything in them: nothing from them is built or shipped then.
 */
export function readProjectState(s: Settings): ProjectState {
  const state = new ProjectState(s);
  checkTreeOwnership(state.tree);
  return state;
}
