// The admin's workstation as a lab host: its own HOME (/root inside), a GnuPG key, an ssh key and a
// known_hosts with every host's real host key; it runs the real CLI from this checkout.
import fs from 'node:fs';
import path from 'node:path';
import { CLI, type CliResult } from '../project.js';
import type { ChildProcess } from 'node:child_process';
import type { Keeper } from './keeper.js';

export const WS_HOME = '/root';
export const WS_PROJECT = '/root/relay-ca';
const RECIPIENT = 'admin@workstation.lab';

export interface Workstation {
  keeper: Keeper;
  /** Outside path of the project directory (WS_PROJECT inside). */
  projectDir: string;
  /** The GnuPG key's e-mail address (init --gpg-recipient). */
  recipient: string;
  publicKey: string;
  /** Adds `names` (with the host key) to ~/.ssh/known_hosts. */
  trustHost(names: string[], hostKey: string): void;
  env: Record<string, string>;
  /** postfix-tls-relay ARGS -C WS_PROJECT, inside the workstation. */
  cli(args: string[], opts?: { input?: string }): Promise<CliResult>;
  /** The CLI started without waiting (to talk to a prompt). */
  spawnCli(args: string[]): ChildProcess;
}

export async function setupWorkstation(keeper: Keeper, dir: string): Promise<Workstation> {
  const env = { HOME: WS_HOME, GNUPGHOME: `${WS_HOME}/.gnupg`, NO_COLOR: '1', ...(process.env.CI ? { CI: process.env.CI } : {}) };
  await keeper.sh(`set -e; mkdir -p -m 700 ${WS_HOME}/.gnupg ${WS_HOME}/.ssh ${WS_PROJECT}; ssh-keygen -q -t ed25519 -N '' -C admin@workstation -f ${WS_HOME}/.ssh/id_ed25519`);
  await keeper.run(['gpg', '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-generate-key', `admin <${RECIPIENT}>`, 'future-default', 'default', 'never'], { env });
  const home = path.join(dir, 'root');
  const knownHosts = path.join(home, '.ssh', 'known_hosts');
  fs.writeFileSync(knownHosts, '', { mode: 0o644 });
  const run = (args: string[], input?: string) => keeper.run([process.execPath, CLI, ...args, '-C', WS_PROJECT], { env, input, cwd: WS_PROJECT, check: false, timeoutMs: 240_000 });
  return {
    keeper,
    projectDir: path.join(home, 'relay-ca'),
    recipient: RECIPIENT,
    publicKey: fs.readFileSync(path.join(home, '.ssh', 'id_ed25519.pub'), 'utf8').trim(),
    trustHost(names, hostKey) {
      fs.appendFileSync(knownHosts, `${names.join(',')} ${hostKey}\n`);
    },
    env,
    cli: (args, o = {}) => run(args, o.input),
    spawnCli: (args) => keeper.spawn([process.execPath, CLI, ...args, '-C', WS_PROJECT], { env, cwd: WS_PROJECT }),
  };
}
