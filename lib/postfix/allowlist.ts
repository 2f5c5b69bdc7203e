// The relay's allowlist (relay_clientcerts) as data: "<fingerprint> <fqdn>" lines, "#" comments. The
// one reader of the format; templates/relay_clientcerts.ejs is its one writer.

export interface AllowlistEntry {
  /** Upper-case colon-separated hex, as Postfix compares it. */
  readonly fingerprint: string;
  readonly fqdn: string;
  /** The entry as one normalised line ("FP fqdn"), for set comparisons and display. */
  readonly line: string;
}

export function parseAllowlist(text: string): AllowlistEntry[] {
  return text
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((line) => {
      const [fp = '', fqdn = ''] = line.split(' ');
      return { fingerprint: fp.toUpperCase(), fqdn, line };
    });
}

/** Lines only on one side, for the FAIL line of `check` (" ; not in the local allowlist: … ; missing: …"). */
export function allowlistDiff(local: string, remote: string): string {
  const a = new Set(parseAllowlist(local).map((e) => e.line));
  const b = new Set(parseAllowlist(remote).map((e) => e.line));
  const extra = [...b].filter((l) => !a.has(l));
  const lacking = [...a].filter((l) => !b.has(l));
  return [extra.length ? `; not in the local allowlist: ${extra.join(' | ')}` : '', lacking.length ? `; missing: ${lacking.join(' | ')}` : ''].join('');
}
