// Two kinds of failure with their exit codes: the user's input (2) and the world (1).
export class UsageError extends Error {
  readonly exitCode: number = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export class RunError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string, readonly detail?: string) {
    super(message);
    this.name = 'RunError';
  }
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof RunError) return err.exitCode;
  return 1;
}
