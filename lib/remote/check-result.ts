// One OK/FAIL line of `check`: what was compared, what the project expects and what the host has.
export interface CheckResult {
  name: string;
  ok: boolean;
  expected: string;
  actual: string;
}
