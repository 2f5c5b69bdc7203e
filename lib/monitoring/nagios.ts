// Nagios/Icinga plugin output (the monitoring-plugins guidelines): one line
// "POSTFIX-TLS-RELAY <STATE> - <text> | <perfdata>" and the exit code 0 OK, 1 WARNING, 2 CRITICAL,
// 3 UNKNOWN. The states come from the same facts as `status` and `check`.
export const PLUGIN_CODES = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type PluginState = keyof typeof PLUGIN_CODES;

export interface Finding {
  state: Exclude<PluginState, 'OK'>;
  text: string;
}

/** One certificate's days left for the performance data. */
export interface CertDays {
  label: string;
  days: number;
}

export interface Thresholds {
  warnDays: number;
  critDays: number;
}

const ORDER: PluginState[] = ['OK', 'WARNING', 'UNKNOWN', 'CRITICAL'];

/** The worst state among the findings: CRITICAL over UNKNOWN over WARNING (a known outage matters most). */
export function worst(findings: readonly Finding[]): PluginState {
  return findings.reduce<PluginState>((w, f) => (ORDER.indexOf(f.state) > ORDER.indexOf(w) ? f.state : w), 'OK');
}

/** Plugin output must stay on one line, and `|` starts the performance data. */
const clean = (t: string) => t.replace(/[|\n\r]+/g, ' ').trim();

export function perfdata(certs: readonly CertDays[], t: Thresholds): string {
  return certs.map((c) => `'${c.label.replace(/'/g, '"')}'=${c.days}d;${t.warnDays};${t.critDays};;`).join(' ');
}

/** The plugin line and its exit code: the worst findings first in the text, OK's summary otherwise. */
export function pluginResult(findings: readonly Finding[], okText: string, certs: readonly CertDays[], t: Thresholds): { code: number; line: string } {
  const state = worst(findings);
  const ranked = [...findings].sort((a, b) => ORDER.indexOf(b.state) - ORDER.indexOf(a.state));
  const text = state === 'OK' ? okText : ranked.map((f) => f.text).join('; ');
  const perf = perfdata(certs, t);
  return { code: PLUGIN_CODES[state], line: `POSTFIX-TLS-RELAY ${state} - ${clean(text)}${perf ? ` | ${perf}` : ''}` };
}

export function unknownResult(message: string): { code: number; line: string } {
  return { code: PLUGIN_CODES.UNKNOWN, line: `POSTFIX-TLS-RELAY UNKNOWN - ${clean(message)}` };
}

/** The severity of a certificate with `days` left. */
export function expiryFinding(what: string, days: number, t: Thresholds): Finding | undefined {
  if (days < 0) return { state: 'CRITICAL', text: `${what} expired ${-days} day(s) ago` };
  if (days <= t.critDays) return { state: 'CRITICAL', text: `${what} expires in ${days} day(s)` };
  if (days <= t.warnDays) return { state: 'WARNING', text: `${what} expires in ${days} day(s)` };
  return undefined;
}
