// sshd as a Debian host runs it: the stock sshd_config, host keys from `ssh-keygen -A`, started by
// /etc/init.d/ssh. Admin users with an authorized key, sudoers lines, PermitRootLogin no when asked.
import fs from 'node:fs';
import path from 'node:path';
import type { Keeper } from './keeper.js';

export interface SshdOptions {
  /** Public keys allowed to log in as root (none: root has no authorized_keys). */
  rootKeys?: string[];
  /** `PermitRootLogin no` in sshd_config.d, as many sites do. */
  forbidRoot?: boolean;
}

export async function startStockSshd(keeper: Keeper, dir: string, o: SshdOptions = {}): Promise<{ hostKey: string }> {
  if (o.forbidRoot) fs.writeFileSync(path.join(dir, 'etc', 'ssh', 'sshd_config.d', 'lab-no-root.conf'), 'PermitRootLogin no\n');
  if (o.rootKeys?.length) writeAuthorizedKeys(path.join(dir, 'root'), o.rootKeys, 0, 0);
  await keeper.run(['ssh-keygen', '-A']);
  await keeper.run(['/etc/init.d/ssh', 'start']);
  const pub = fs.readFileSync(path.join(dir, 'etc', 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
  return { hostKey: `${pub[0]} ${pub[1]}` };
}

function writeAuthorizedKeys(home: string, keys: string[], uid: number, gid: number): void {
  const ssh = path.join(home, '.ssh');
  fs.mkdirSync(ssh, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(ssh, 'authorized_keys'), `${keys.join('\n')}\n`, { mode: 0o600 });
  for (const p of [ssh, path.join(ssh, 'authorized_keys')]) fs.chownSync(p, uid, gid);
}

/** Adds a login user with `keys` authorized and, when given, /etc/sudoers.d/<user> with `sudoers`. */
export async function addAdminUser(keeper: Keeper, dir: string, user: string, keys: string[], sudoers?: string): Promise<void> {
  await keeper.run(['useradd', '--create-home', '--shell', '/bin/bash', user]);
  const id = async (flag: string) => Number((await keeper.run(['id', flag, user])).stdout.trim());
  writeAuthorizedKeys(path.join(dir, 'home', user), keys, await id('-u'), await id('-g'));
  if (sudoers !== undefined) await setSudoers(keeper, dir, user, sudoers);
}

/** Writes /etc/sudoers.d/<user> (checked with visudo first; a bad file would lock sudo out). */
export async function setSudoers(keeper: Keeper, dir: string, user: string, text: string): Promise<void> {
  const file = path.join(dir, 'etc', 'sudoers.d', user);
  fs.writeFileSync(`${file}.new`, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o440 });
  await keeper.run(['visudo', '-cf', `/etc/sudoers.d/${user}.new`]);
  fs.renameSync(`${file}.new`, file);
}
