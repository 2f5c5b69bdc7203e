// The lab's name server: dnsmasq on one host, authoritative for the lab's names only (A and PTR from a
// hosts file it rereads on SIGHUP, an MX for the destination domain); it forwards nothing anywhere.
// Optional records given as dnsmasq options (TXT for SPF, a PTR of its own, an A without PTR, more MX):
// dnsmasq reads those only when it starts, so setOptions restarts it.
import fs from 'node:fs';
import path from 'node:path';
import type { Keeper } from './keeper.js';

export interface Dns {
  ip: string;
  /** Replaces the A/PTR records: fqdn → address. */
  setRecords(records: ReadonlyMap<string, string>): Promise<void>;
  /**
   * Replaces the extra dnsmasq options (argv elements, no shell quoting: `--txt-record=hq.test,v=spf1 -all`,
   * `--ptr-record=4.47.231.10.in-addr.arpa,name`, `--address=/name/ip`, `--mx-host=…`) and restarts dnsmasq.
   */
  setOptions(options: readonly string[]): Promise<void>;
  log(): string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `dir` is the name server host's directory outside (its /etc is dir/etc, its /var/log dir/log). */
export async function startDns(keeper: Keeper, dir: string, ip: string, records: ReadonlyMap<string, string>, mx: { domain: string; host: string }[], options: readonly string[] = []): Promise<Dns> {
  const file = path.join(dir, 'etc', 'lab-hosts');
  const write = (r: ReadonlyMap<string, string>) => fs.writeFileSync(file, [...r].map(([name, addr]) => `${addr}\t${name}\n`).join(''));
  write(records);
  const domains = [...new Set([...records.keys(), ...mx.map((m) => m.domain)].map((n) => n.split('.').slice(-1)[0]!))];
  const start = (extra: readonly string[]) => keeper.run([
    'dnsmasq', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll', `--listen-address=${ip}`, '--bind-interfaces',
    '--addn-hosts=/etc/lab-hosts', ...domains.map((d) => `--local=/${d}/`), `--local=/${ip.split('.').slice(0, 3).reverse().join('.')}.in-addr.arpa/`,
    ...mx.map((m) => `--mx-host=${m.domain},${m.host},10`), '--pid-file=/run/dnsmasq.pid', '--log-queries', '--log-facility=/var/log/dnsmasq.log',
    ...extra,
  ]);
  await start(options);
  return {
    ip,
    async setRecords(r) {
      write(r);
      await keeper.sh('kill -HUP "$(cat /run/dnsmasq.pid)"');
    },
    async setOptions(extra) {
      const pid = (await keeper.sh('cat /run/dnsmasq.pid')).stdout.trim();
      await keeper.run(['kill', pid]);
      for (let i = 0; i < 500 && (await keeper.run(['kill', '-0', pid], { check: false })).code === 0; i++) await sleep(10);
      await start(extra);
    },
    log: () => { try { return fs.readFileSync(path.join(dir, 'log', 'dnsmasq.log'), 'utf8'); } catch { return ''; } },
  };
}
