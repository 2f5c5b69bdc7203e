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

export const INTERRUPTED = 'interrupted; finished files are kept, run again to complete';

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof RunError) return err.exitCode;
  return 1;
}

/** What to do about a failed file operation, by errno. */
const FS_HINTS: Record<string, string> = {
  ENOSPC: 'no space left on the device; free some space and run again (finished files are kept)',
  EDQUOT: 'disk quota exceeded; free some space and run again (finished files are kept)',
  EROFS: 'the file system is read-only; run in a writable project directory',
  EACCES: 'permission denied; run as the owner of the project directory or fix its permissions',
  EPERM: 'operation not permitted; run as the owner of the project directory or fix its permissions',
  ENOTDIR: 'a part of the path is a file, not a directory; move that file away',
  EISDIR: 'a directory is in the way; move it away',
  ELOOP: 'a symbolic link is in the way, and postfix-tls-relay never writes through one; remove the link',
};

/** A failed fs call already named by the module that made it (files/atomic.ts); a caller that knows the file by a better name renames it. */
export class FileFailure extends RunError {
  constructor(message: string, readonly errno: unknown) {
    super(message);
    this.name = 'RunError';
  }
}

/** A failed fs call on `file` as a one-line RunError naming the file and the fix. */
export function fsFailure(err: unknown, file: string, action = 'cannot write'): RunError {
  if (err instanceof FileFailure) err = err.errno;
  if (err instanceof RunError || err instanceof UsageError) return err as RunError;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const hint = (code && FS_HINTS[code]) ?? (err instanceof Error ? err.message.split('\n')[0] : String(err));
  return new RunError(`${file}: ${action}${code ? ` (${code})` : ''}: ${hint}`);
}

/** fsFailure, for a caller that may be asked again with a better name for the file (see FileFailure). */
export function fileFailure(err: unknown, file: string): RunError {
  const named = fsFailure(err, file);
  return err instanceof RunError || err instanceof UsageError ? named : new FileFailure(named.message, err);
}
