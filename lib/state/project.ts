// What the project is now: the CA certificate and database, every host's certificate with its facts,
// rotations in progress, revocations, and the records of what the tool wrote. Read once per session
// (each file at most once, lazily), handed to the plan, and kept true by the runner, which tells it
// what it wrote. Nothing else in lib/ reads these files.
import { fingerprint } from '../ca/fingerprint.js';
import { parseCert, signedBy, type CertFacts } from '../ca/cert.js';
import { parseIndex, type IndexEntry } from '../ca/database.js';
import { parseRotations, saveRotations, type Rotation } from '../ca/rotations.js';
import { ALLOWLIST, allHosts, caFiles, hostFiles, ROTATIONS_FILE, type CaFiles } from '../files/layout.js';
import type { Settings } from '../settings/index.js';
import { parseAllowlist, type AllowlistEntry } from '../postfix/allowlist.js';
import { checkTreeOwnership } from '../files/ownership.js';
import { DiskState } from './disk.js';
import type { Records } from './records.js';

export class ProjectState extends DiskState {
  readonly ca: CaFiles;
  private readonly certs = new Map<string, CertFacts | null>();
  private readonly fingerprints = new Map<string, string>();
  private indexCache: IndexEntry[] | undefined;
  private rotationsCache: Rotation[] | undefined;

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

  /** The certificate's fingerprint as the relay's allowlist lists it (fingerprint_kind, signature_hash). */
  fingerprint(rel: string): string | undefined {
    const c = this.cert(rel);
    if (!c) return undefined;
    let fp = this.fingerprints.get(rel);
    if (fp === undefined) {
      fp = fingerprint(c.x509, this.settings.fingerprintDigest, this.settings.fingerprintKind);
      this.fingerprints.set(rel, fp);
    }
    return fp;
  }

  /** index.txt of the CA database; empty before there is one. */
  index(): readonly IndexEntry[] {
    this.indexCache ??= parseIndex(this.text(this.ca.index) ?? '');
    return this.indexCache;
  }

  /** Serials marked revoked ("R") in the CA database. */
  revoked(): ReadonlySet<string> {
    return new Set(this.index().filter((e) => e.status === 'R').map((e) => e.serial));
  }

  /** Is the host's current certificate revoked? */
  isRevoked(certRel: string): boolean {
    if (!this.index().some((e) => e.status === 'R')) return false; // no certificate to parse
    const serial = this.cert(certRel)?.serial;
    return serial !== undefined && this.index().some((e) => e.status === 'R' && e.serial === serial);
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
    this.fingerprints.delete(rel);
    if (rel === this.ca.index) this.indexCache = undefined;
    if (rel === ROTATIONS_FILE) this.rotationsCache = undefined;
  }

  override databaseChanged(): void {
    for (const f of [this.ca.index, this.ca.indexAttr, this.ca.crlnumber]) this.invalidate(f);
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
