// The `openssl ca` database (index.txt) as data: which serials are valid, revoked or expired.
import { CA_INDEX, readStateFile } from '../files/state-files.js';

export interface IndexEntry {
  status: 'V' | 'R' | 'E';
  /** Upper-case hex, as openssl writes it (and as node's X509Certificate.serialNumber prints it). */
  serial: string;
  subject: string;
  /** `YYMMDDHHMMSSZ[,reason]` for revoked entries. */
  revocation: string | null;
}

/** A line that is not openssl's stops the run (exit 2): a revocation must never be lost to a damaged line. */
export function parseIndex(text: string | undefined): IndexEntry[] {
  return (readStateFile(CA_INDEX, text) ?? [])
    .filter((f) => f.length === 6)
    .map((f) => ({ status: f[0] as IndexEntry['status'], serial: f[3]!.toUpperCase(), subject: f[5]!, revocation: f[2] || null }));
}
