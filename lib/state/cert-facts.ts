// What the tool needs of each certificate (serial, validity, the fingerprint the relay lists) remembered
// by the file's identity (inode, size, mtime, ctime) in cert-facts.json: status and the allowlist of a
// fleet would otherwise read and parse a thousand certificates on every run. A certificate changed in any
// way has another identity and is parsed again; one changed within the last second is not remembered.
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { CERT_FACTS_FILE } from '../files/layout.js';
import { CERT_FACTS, loadStateFile } from '../files/state-files.js';
import { identityOf, racy, type FileStats } from '../files/tree.js';

export interface CertSummary {
  /** Upper-case hex, as openssl's index.txt writes it. */
  readonly serial: string;
  /** Milliseconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** The fingerprint as the relay lists it, for the digest and kind it was computed with. */
  readonly fingerprint: string;
}

type Entry = CertSummary & { id: string; fp: string };


export class CertCache {
  private dirty = false;

  private constructor(private readonly entries: Record<string, Entry>) {}

  static load(projectDir: string): CertCache {
    return new CertCache({ ...loadStateFile(projectDir, CERT_FACTS)?.certs });
  }

  /** The facts of `rel` if it still has this identity and they were taken for this kind of fingerprint. */
  get(rel: string, st: FileStats, fp: string): CertSummary | undefined {
    const e = this.entries[rel];
    if (!e || e.id !== identityOf(st) || e.fp !== fp || typeof e.serial !== 'string' || typeof e.fingerprint !== 'string') return undefined;
    return e;
  }

  set(rel: string, st: FileStats, fp: string, facts: CertSummary): void {
    if (racy(st, Date.now())) return;
    this.entries[rel] = { id: identityOf(st), fp, serial: facts.serial, notBefore: facts.notBefore, notAfter: facts.notAfter, fingerprint: facts.fingerprint };
    this.dirty = true;
  }

  get changed(): boolean {
    return this.dirty;
  }

  /** Writes cert-facts.json when it changed (call holding the project lock). */
  save(projectDir: string): void {
    if (!this.dirty) return;
    writeFileAtomic(path.join(projectDir, CERT_FACTS_FILE), `${JSON.stringify({ certs: this.entries })}\n`, 0o600, { durable: false });
    this.dirty = false;
  }
}
