// Edits settings.mk in place like a careful human would: one word appended to one assignment, every
// other byte (comments, alignment, line endings) left as it was.
import { parseMakeText } from './makefile.js';

export interface ListEdit {
  text: string;
  /** 1-based line that now holds the word. */
  line: number;
  /** True when the assignment did not exist and a line was added. */
  created: boolean;
}

/** Index of the `#` that starts a comment on this physical line (make's rule: `\#` is literal), or -1. */
function commentStart(line: string): number {
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') {
      let j = i;
      while (line[j] === '\\') j++;
      if (line[j] === '#' && (j - i) % 2 === 1) {
        i = j; // escaped: literal
        continue;
      }
      i = j - 1;
      continue;
    }
    if (line[i] === '#') return i;
  }
  return -1;
}

function continues(line: string): boolean {
  const m = /(\\+)$/.exec(line);
  return m !== null && m[1]!.length % 2 === 1;
}

/**
 * Appends `word` to the list variable `name` (e.g. smtp_client_hostnames): to the value of its last
 * assignment, before any comment; or, when it is never assigned, as a new `name := word` line after the
 * last assignment of `after` (or at the end), aligned like that line.
 */
export function appendToList(text: string, file: string, name: string, word: string, after?: string): ListEdit {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const assignments = parseMakeText(text, file);
  const last = [...assignments].reverse().find((a) => a.name === name);
  const join = (ls: string[]) => ls.join(eol);
  if (last) {
    // The statement may continue over several physical lines: the value ends on the last one.
    let i = last.line - 1;
    while (continues(lines[i]!) && i + 1 < lines.length) i++;
    const physical = lines[i]!;
    const c = commentStart(physical);
    const code = c < 0 ? physical : physical.slice(0, c);
    const rest = c < 0 ? '' : physical.slice(c);
    const trimmed = code.trimEnd();
    const gap = code.slice(trimmed.length);
    lines[i] = `${trimmed} ${word}${rest ? (gap || ' ') + rest : gap}`;
    return { text: join(lines), line: i + 1, created: false };
  }
  const anchor = after ? [...assignments].reverse().find((a) => a.name === after) : undefined;
  let insertAt = lines.length;
  let newLine = `${name} := ${word}`;
  if (anchor) {
    let i = anchor.line - 1;
    while (continues(lines[i]!) && i + 1 < lines.length) i++;
    insertAt = i + 1;
    // Align the operator like the anchor line: same whitespace kind, same column when spaces.
    const m = /^(\s*)(\S+)(\s+)(:{1,2}=|\?=|\+=|=)/.exec(lines[anchor.line - 1]!);
    if (m) {
      const [, indent, anchorName, ws] = m as unknown as [string, string, string, string];
      const pad = ws.includes('\t') ? ws : ' '.repeat(Math.max(1, anchorName.length + ws.length - name.length));
      newLine = `${indent}${name}${pad}:= ${word}`;
    }
  } else if (lines.length && lines[lines.length - 1] === '') {
    insertAt = lines.length - 1; // before the final newline
  }
  lines.splice(insertAt, 0, newLine);
  return { text: join(lines), line: insertAt + 1, created: true };
}
