// One line of `check`: what was compared, what it should be, what it is.
export interface CheckResult {
  name: string;
  ok: boolean;
  expected: string;
  actual: string;
}
