// A command is an argv we execute plus the exact shell text that does the same thing.
import type { SshTarget } from '../settings/index.js';

/** What an ssh or rsync command reaches, and the same command with more ssh options put first. */
export interface RemoteVia {
  readonly target: SshTarget;
  /** The ssh options it was built with (--ssh-option, then ssh_options). */
  readonly options: readonly string[];
  /** The same command with `first` before its ssh options (ssh keeps the first value of an option). */
  withOptions(first: readonly string[]): Command;
}

export interface Command {
  /** Program and arguments, executed without a shell. */
  readonly argv: readonly string[];
  /** True when the CA passphrase is fed on standard input (from `gpg --decrypt`). */
  readonly passphraseOnStdin: boolean;
  /** Shell equivalent, shell-quoted; for passphrase steps the real `gpg … | openssl …` pipe. */
  readonly display: string;
  /** Set by the ssh/rsync builders: the host it reaches (remote/run.ts shares one connection per host). */
  readonly via?: RemoteVia;
}
