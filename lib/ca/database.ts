// The `openssl ca` database (index.txt) as data: which serials are valid, revoked or expired.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { caFiles } from '../files/layout.js';
import type { Settings } from '../settings/index.js';

export interface IndexEntry {
  status: 'V' | 'R' | 'E';
  /** Upper-case hex, as openssl writes it (and as node's X509Certificate.serialNumber prints it). */
  serial: string;
  subject: string;
  /** `YYMMDDHHMMSSZ[,reason]` for revoked entries. */
  revocation: string | null;
}

export function parseIndex(text: string): IndexEntry[] {
  return text
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f.length >= 6 && (f[0] === 'V' || f[0] === 'R' || f[0] === 'E'))
    .map((f) => ({ status: f[0] as IndexEntry['status'], serial: f[3]!.toUpperCase(), subject: f[5]!, revocation: f[2] || null }));
}

export function readIndex(projectDir: string, s: Settings): IndexEntry[] {
  try {
    return parseIndex(readFileSync(path.join(projectDir, caFiles(s).index), 'utf8'));
  } catch {
    return []; // no database yet
  }
}

/** Serials marked revoked ("R") in the CA database. */
export function revokedSerials(projectDir: string, s: Settings): Set<string> {
  return new Set(readIndex(projectDir, s).filter((e) => e.status === 'R').map((e) => e.serial));
}
