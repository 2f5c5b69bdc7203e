// The lab's wiring: a "switch" namespace holding a bridge, and per host an eth0 whose veth peer is a
// port of that bridge. One private /24 that exists only inside these namespaces and no default route:
// nothing reaches the machine's own interfaces or anything outside.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Keeper } from './keeper.js';

export const LAB_NET = '10.231.47';

export interface Switch {
  keeper: Keeper;
  /** Connects `host` as eth0 with address `${LAB_NET}.${octet}/24` and brings lo and eth0 up. */
  plug(host: Keeper, octet: number): Promise<string>;
}

/** `ip ARGS` in the network namespace of `k` only: PIDs stay the machine's, for `netns PID`. */
const ipIn = (k: Keeper, args: string[]) => promisify(execFile)('nsenter', ['-t', String(k.pid), '-n', '--', 'ip', ...args]);

export async function createSwitch(keeper: Keeper): Promise<Switch> {
  await ipIn(keeper, ['link', 'set', 'lo', 'up']);
  await ipIn(keeper, ['link', 'add', 'br0', 'type', 'bridge']);
  await ipIn(keeper, ['link', 'set', 'br0', 'up']);
  let port = 0;
  return {
    keeper,
    async plug(host, octet) {
      const peer = `p${port++}`;
      const ip = `${LAB_NET}.${octet}`;
      await ipIn(keeper, ['link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(host.pid)]);
      await ipIn(keeper, ['link', 'set', peer, 'master', 'br0', 'up']);
      await ipIn(host, ['link', 'set', 'lo', 'up']);
      await ipIn(host, ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      await ipIn(host, ['link', 'set', 'eth0', 'up']);
      return ip;
    },
  };
}
