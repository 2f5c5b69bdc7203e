// A private sshd on 127.0.0.1 for deploy tests: throwaway host and user keys, its own config, a
// pre-filled known_hosts so clients keep StrictHostKeyChecking=yes. Never touches /etc/ssh or ~/.ssh.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { freePort, isAlive, killAndWait, waitFor, waitForPort } from './lab.js';

import { findCommand, SSHD } from './prereq.js';

export { sshdPrerequisites } from './prereq.js';

export interface Sshd {
  port: number;
  /** The login user (the user running the tests). */
  user: string;
  /** `${user}@127.0.0.1` */
  target: string;
  keyFile: string;
  knownHostsFile: string;
  /** ssh options for ssh, scp and rsync -e; they include -F /dev/null (ignore ~/.ssh/config) and Port. */
  sshOptions: string[];
  /** `ssh <sshOptions>` as one shell-quoted string, for `rsync -e`. */
  sshCommand: string;
  /** PID read from the PidFile. */
  pid: number;
  /** sshd's own log (-E). */
  log(): string;
  stop(): Promise<void>;
}



const shq = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export async function startSshd(): Promise<Sshd> {
  const dir = await fs.promises.mkdtemp(path.join('/tmp', 'ptr-sshd-'));
  const user = os.userInfo().username;
  const hostKey = path.join(dir, 'host_ed25519');
  const keyFile = path.join(dir, 'id_ed25519');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  const knownHostsFile = path.join(dir, 'known_hosts');
  const pidFile = path.join(dir, 'sshd.pid');
  const logFile = path.join(dir, 'sshd.log');
  const configFile = path.join(dir, 'sshd_config');
  const log = () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  let pid: number | undefined;

  const stop = async () => {
    const p = pid ?? readPid(pidFile);
    if (p !== undefined) await killAndWait(p, 5000);
    await fs.promises.rm(dir, { recursive: true, force: true });
  };

  try {
    for (const [file, comment] of [[hostKey, 'ptr-test-host'], [keyFile, 'ptr-test-user']] as const) {
      await execa(findCommand('ssh-keygen') ?? 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
    }
    await fs.promises.copyFile(`${keyFile}.pub`, authorizedKeys);
    const port = await freePort();
    const [type, key] = (await fs.promises.readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/);
    await fs.promises.writeFile(knownHostsFile, `[127.0.0.1]:${port} ${type} ${key}\n`);
    await fs.promises.writeFile(configFile, [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${pidFile}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      `AllowUsers ${user}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PrintMotd no',
      'PrintLastLog no',
      'X11Forwarding no',
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      '',
    ].join('\n'));
    if (process.getuid?.() === 0) await fs.promises.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const test = await execa(SSHD, ['-t', '-f', configFile], { reject: false, all: true, timeout: 30_000 });
    if (test.exitCode !== 0) throw new Error(`sshd -t -f ${configFile} failed:\n${test.all}`);

    // -D: stay in the foreground as our child (so it is reaped); it still writes the PidFile.
    const child = spawn(SSHD, ['-D', '-f', configFile, '-E', logFile], { detached: false, stdio: 'ignore' });
    let exited = false;
    child.once('exit', () => { exited = true; });
    child.once('error', () => { exited = true; });
    child.unref();
    await waitFor(async () => {
      if (exited) throw new Error(`sshd exited at start:\n${log()}`);
      const p = readPid(pidFile);
      return p !== undefined && isAlive(p) ? p : undefined;
    }, 10_000, () => `sshd to write ${pidFile}\n${log()}`, 50).then((p) => { pid = p; });
    await waitForPort(port, 10_000);

    const sshOptions = [
      '-F', '/dev/null',
      '-o', `Port=${port}`,
      '-o', `IdentityFile=${keyFile}`,
      '-o', 'IdentitiesOnly=yes',
      '-o', `UserKnownHostsFile=${knownHostsFile}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'UpdateHostKeys=no',
      '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=10',
    ];
    return {
      port, user, target: `${user}@127.0.0.1`, keyFile, knownHostsFile, sshOptions,
      sshCommand: ['ssh', ...sshOptions].map(shq).join(' '),
      pid: pid as number,
      log,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function readPid(pidFile: string): number | undefined {
  try {
    const n = parseInt(fs.readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch { return undefined; }
}
