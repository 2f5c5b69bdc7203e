// A command is an argv we execute plus the exact shell text that does the same thing.
export interface Command {
  /** Program and arguments, executed without a shell. */
  readonly argv: readonly string[];
  /** True when the CA passphrase is fed on standard input (from `gpg --decrypt`). */
  readonly passphraseOnStdin: boolean;
  /** Shell equivalent, shell-quoted; for passphrase steps the real `gpg … | openssl …` pipe. */
  readonly display: string;
}
