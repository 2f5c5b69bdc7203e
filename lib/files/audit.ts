// The audit trail: one JSON line per command the tool executed (never its input), in the project's audit.log.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { AUDIT_LOG } from './layout.js';

export interface AuditEntry {
  /** ISO time the command started. */
  start: string;
  /** What it was for, e.g. "cert:mail.example.org" or "deploy-rsync:relay.example.org". */
  step: string;
  /** The exact shell text of the command. */
  command: string;
  durationMs: number;
  /** Its exit code; -1 when it could not run. */
  exit: number;
}

export function auditLine(e: AuditEntry): string {
  return `${JSON.stringify({ start: e.start, step: e.step, command: e.command, durationMs: Math.round(e.durationMs), exit: e.exit })}\n`;
}

export function appendAudit(projectDir: string, e: AuditEntry): void {
  appendAuditText(projectDir, auditLine(e));
}

/** Appends whole lines to audit.log; a symlink there is refused (ELOOP), never written through. */
export function appendAuditText(projectDir: string, text: string): void {
  const fd = openSync(path.join(projectDir, AUDIT_LOG), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  try {
    const bytes = Buffer.from(text);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
  } finally {
    closeSync(fd);
  }
}
