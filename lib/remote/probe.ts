// What `check` reads on a host, in ONE ssh call: a read-only command list whose output is cut into
// named sections. Each section is one plain command (postconf, stat, cat, sha256sum, openssl), so the
// printed ssh command is exactly what runs and anyone can replay it.
import { randomBytes } from 'node:crypto';
import { shJoin } from '../programs/shell.js';

export interface Section {
  /** Standard output and error of the section's command. */
  out: string;
  exit: number;
}

export type Probe = Map<string, Section>;

/**
 * The remote command: a small shell function prints a start line, runs one command (stderr included)
 * and prints its exit code on a line of its own, even after output without a final newline (so
 * splitting at newlines gives back the output byte for byte). Then one call per section. The marker
 * carries a random tag, so no file content (a tampered allowlist, say) can fake a section.
 */
export class ProbeScript {
  readonly mark = `@@postfix-tls-relay-${randomBytes(6).toString('hex')}`;
  private readonly parts: string[] = [
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH',
    `p() { echo "${this.mark} $1"; shift; "$@" 2>&1; printf '\\n${this.mark}-exit %s\\n' "$?"; }`,
  ];

  /** Runs argv (no shell syntax: pipes and redirections cannot hide in it) as section `name`. */
  add(name: string, argv: readonly string[]): this {
    if (!/^[\w.-]+$/.test(name)) throw new Error(`probe section names are words: ${name}`);
    this.parts.push(shJoin(['p', name, ...argv]));
    return this;
  }

  postconf(name: string, dir: string, args: string[]): this {
    return this.add(name, ['postconf', '-c', dir, ...args]);
  }

  text(): string {
    return this.parts.join('; ');
  }

  parse(stdout: string): Probe {
    const sections: Probe = new Map();
    let name: string | undefined;
    let lines: string[] = [];
    for (const line of stdout.split('\n')) {
      if (line.startsWith(`${this.mark} `)) {
        name = line.slice(this.mark.length + 1);
        lines = [];
      } else if (line.startsWith(`${this.mark}-exit `) && name !== undefined) {
        sections.set(name, { out: lines.join('\n'), exit: Number(line.slice(this.mark.length + 6)) });
        name = undefined;
      } else if (name !== undefined) {
        lines.push(line);
      }
    }
    return sections;
  }
}

/** `name = value` lines of `postconf NAME…` (and `svc/name = value` of `postconf -P`). */
export function parsePostconf(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const x = /^([A-Za-z0-9_./-]+) =(?: (.*))?$/.exec(line);
    if (x) m.set(x[1]!, x[2] ?? '');
  }
  return m;
}

/** `stat -c '%a %u:%g %Y'` output. */
export interface FileStat {
  mode: string;
  owner: string;
  mtime: number;
}

export const STAT_FORMAT = '%a %u:%g %Y';

export function parseStat(out: string): FileStat | undefined {
  const m = /^([0-7]{3,4}) (\d+:\d+) (\d+)$/.exec(out.trim());
  return m ? { mode: m[1]!.padStart(4, '0'), owner: m[2]!, mtime: Number(m[3]) } : undefined;
}

/** The hex digest of `sha256sum FILE` output ("<hex>  FILE"). */
export function parseSha256sum(out: string): string | undefined {
  return /^([0-9a-f]{64})\b/.exec(out.trim())?.[1];
}
