// The `-o KEY=VALUE` options of every ssh call: --ssh-option from the command line, then ssh_options
// from the settings. ssh keeps the first value it sees, so the command line wins.
import { UsageError } from '../errors.js';
import type { Settings } from '../settings/index.js';
import { checkSshOption } from '../settings/validate.js';

/** Options that turn off the host key check the user's ssh configuration does. */
const WEAKENING = /^(StrictHostKeyChecking=(no|off)|UserKnownHostsFile=\/dev\/null)$/i;

export function sshOptionsFor(cli: readonly string[] | undefined, s: Settings, report?: { warn(line: string): void }): string[] {
  const fromCli = cli ?? [];
  for (const o of fromCli) {
    const e = checkSshOption(o);
    if (e) throw new UsageError(`--ssh-option ${e}, e.g. --ssh-option IdentityFile=~/.ssh/relay_ed25519`);
  }
  const all = [...fromCli, ...s.sshOptions];
  for (const o of all.filter((x) => WEAKENING.test(x))) {
    report?.warn(`ssh option ${o} turns off host key verification; a man in the middle could receive the host keys`);
  }
  return all;
}
