// --warn-days / --crit-days as given, checked once for status and check.
import { UsageError } from '../errors.js';
import type { Thresholds } from './nagios.js';

export function thresholdsOf(warnDays: number | undefined, critDays: number | undefined): Thresholds {
  const t = { warnDays: warnDays ?? 30, critDays: critDays ?? 14 };
  for (const [name, v] of [['--warn-days', t.warnDays], ['--crit-days', t.critDays]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new UsageError(`${name}: expected a whole number of days, 0 or more, e.g. ${name} ${name === '--warn-days' ? 30 : 14}`);
  }
  if (t.critDays > t.warnDays) throw new UsageError(`--crit-days (${t.critDays}) is more than --warn-days (${t.warnDays}); the critical threshold must be the nearer one`);
  return t;
}
