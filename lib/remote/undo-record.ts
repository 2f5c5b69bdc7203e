// The undo record apply.sh keeps on a host (remoteFiles().undoRecord): what each main.cf parameter and
// master.cf service the tool changed was before its first change. Read by `undeploy` (to refuse a damaged
// record before anything runs, and to confirm afterwards that the host is back to it); apply.sh writes it.
import { createHash } from 'node:crypto';

export interface UndoRecord {
  /** main.cf: the `postconf -n` line ("name = value") it had, or null when it was not set. */
  readonly main: ReadonlyMap<string, string | null>;
  /** master.cf: the `postconf -M` line of the service, or null when there was none. */
  readonly master: ReadonlyMap<string, string | null>;
}

const LINE = /^(?:# .*|main-set ([A-Za-z0-9_]+) =(?: .*)?|main-unset ([A-Za-z0-9_]+)|master-set ([A-Za-z0-9_.-]+\/[a-z]+) (.+)|master-unset ([A-Za-z0-9_.-]+\/[a-z]+))$/;

/** The record, or why it cannot be trusted (one phrase). */
export function parseUndoRecord(text: string): UndoRecord | { error: string } {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const last = lines.pop() ?? '';
  const body = lines.map((l) => `${l}\n`).join('');
  const sum = /^sha256 ([0-9a-f]{64})$/.exec(last)?.[1];
  if (sum === undefined || createHash('sha256').update(body).digest('hex') !== sum) return { error: 'does not match its sha256 line (edited or damaged)' };
  const main = new Map<string, string | null>();
  const master = new Map<string, string | null>();
  for (const l of lines) {
    const m = LINE.exec(l);
    if (!m) return { error: `has a line that apply.sh does not write: ${JSON.stringify(l.slice(0, 80))}` };
    if (m[1]) main.set(m[1], l.slice('main-set '.length));
    else if (m[2]) main.set(m[2], null);
    else if (m[3]) master.set(m[3], m[4]!);
    else if (m[5]) master.set(m[5], null);
  }
  return { main, master };
}
