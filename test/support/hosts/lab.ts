// A lab of separate stock Debian hosts on one machine: a name server, N relays, N clients (outbound
// port 25 blocked, as by their ISP), a destination that receives the relayed mail, and the admin's
// workstation. Each host is its own set of namespaces (keeper.ts) with a private /etc, /var, /root …
// (host-fs.ts), plugged into one switch (network.ts). teardown() kills the keepers by PID: every
// process, mount and interface of the lab goes with them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDns, type Dns } from './dns.js';
import { setupHostFs } from './host-fs.js';
import { startKeeper, type Keeper } from './keeper.js';
import { createSwitch, LAB_NET } from './network.js';
import { installStockPostfix, type StockPostfix } from './postfix-stock.js';
import { enterReleaseRoot, inHostNet, type Release } from './release.js';
import { enableSpfPolicy } from './spf-receiver.js';
import { addAdminUser, setSudoers, startStockSshd } from './sshd.js';
import { setupWorkstation, type Workstation } from './workstation.js';

export type Role = 'nameserver' | 'workstation' | 'relay' | 'client' | 'destination' | 'lan' | 'other';

/**
 * A relay or client: its host name, or the name and the Debian release its root file system is made
 * from (release.ts: a bootstrapped Debian 11 or 13 root). Without a release, the host runs this
 * machine's Debian as before.
 */
export type HostEntry = string | { name: string; release?: Release };
const entryName = (e: HostEntry) => (typeof e === 'string' ? e : e.name);
const entryRelease = (e: HostEntry) => (typeof e === 'string' ? undefined : e.release);

export interface HostsLabSpec {
  domain: string;
  relays: HostEntry[];
  clients: HostEntry[];
  /** The destination domain (MX → mx.<domain>) and the local user that receives mail there. */
  destination?: { domain: string; user: string };
  /**
   * Optional: a LAN mail host lanhost.<domain> (stock Debian Postfix with its snakeoil certificate) that
   * receives mail for `domain` and asks every client for a certificate (smtpd_tls_ask_ccert = yes,
   * smtpd_tls_loglevel = 1). The clients reach its port 25 (the ISP block is for the internet only).
   */
  lan?: { domain: string; user: string };
  /** A non-root admin on every relay and client, with the workstation's key. */
  admin?: { user: string; sudoers?: string; forbidRoot?: boolean };
  /** The destination MX checks SPF (postfix-policyd-spf-python) and rejects SPF fail. */
  spfReceiver?: boolean;
  /** More hosts (after every other, so the others keep their addresses), with stock Postfix if asked. */
  others?: { fqdn: string; postfix?: boolean }[];
  /** Extra dnsmasq options at start (TXT, PTR, MX records …); dns.setOptions replaces them later. */
  dnsOptions?: string[];
}

export interface LabHost {
  role: Role;
  fqdn: string;
  short: string;
  ip: string;
  keeper: Keeper;
  /** Outside directory behind the host's private /etc, /var/log, /var/mail, /root … */
  dir: string;
  postfix?: StockPostfix;
  hostKey?: string;
  /** The Debian release of its own root (HostEntry); undefined: this machine's. */
  release?: Release;
}

export interface HostsLab {
  root: string;
  domain: string;
  ws: Workstation;
  dns: Dns;
  nameserver: LabHost;
  relays: LabHost[];
  clients: LabHost[];
  destination: LabHost;
  /** The LAN mail host (spec.lan), when asked for. */
  lan?: LabHost;
  /** spec.others, in order. */
  others: LabHost[];
  destUser: string;
  destDomain: string;
  all: LabHost[];
  host(short: string): LabHost;
  /** The records the name server serves (fqdn → ip); change with dns.setRecords. */
  records: Map<string, string>;
  setSudoers(host: LabHost, user: string, text: string): Promise<void>;
  teardown(): Promise<void>;
}

/** Blocks outbound SMTP on port 25 as an ISP does (but not to the LAN mail host, when there is one). */
const ispBlock = (lanIp?: string) => [
  "nft add table inet isp; nft add chain inet isp out '{ type filter hook output priority 0; }'",
  ...(lanIp ? [`nft add rule inet isp out ip daddr ${lanIp} tcp dport 25 accept`] : []),
  'nft add rule inet isp out tcp dport 25 reject with tcp reset',
].join('; ');

export async function createHostsLab(spec: HostsLabSpec): Promise<HostsLab> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ptr-hosts-'));
  const keepers: Keeper[] = [];
  const destDomain = spec.destination?.domain ?? 'dest.test';
  const destUser = spec.destination?.user ?? 'alice';
  const plan: { role: Role; fqdn: string; release?: Release }[] = [
    { role: 'nameserver', fqdn: `ns.${spec.domain}` },
    { role: 'workstation', fqdn: `admin.${spec.domain}` },
    ...spec.relays.map((r) => ({ role: 'relay' as const, fqdn: `${entryName(r)}.${spec.domain}`, release: entryRelease(r) })),
    ...spec.clients.map((c) => ({ role: 'client' as const, fqdn: `${entryName(c)}.${spec.domain}`, release: entryRelease(c) })),
    { role: 'destination', fqdn: `mx.${destDomain}` },
    ...(spec.lan ? [{ role: 'lan' as const, fqdn: `lanhost.${spec.domain}` }] : []),
    ...(spec.others ?? []).map((o) => ({ role: 'other' as const, fqdn: o.fqdn })),
  ];
  const teardown = async () => {
    await Promise.all(keepers.map((k) => k.kill()));
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    const sw = await createSwitch(await startKeeper('switch').then((k) => (keepers.push(k), k)));
    const nsIp = `${LAB_NET}.2`;
    const hosts: LabHost[] = await Promise.all(plan.map(async (p, i) => {
      const keeper = await startKeeper(p.fqdn);
      keepers.push(keeper);
      const dir = path.join(root, p.fqdn);
      fs.mkdirSync(dir);
      const short = p.fqdn.split('.')[0]!;
      if (p.release) await enterReleaseRoot(keeper, dir, p.release, { fqdn: p.fqdn, nameserver: nsIp });
      else await setupHostFs(keeper, dir, { fqdn: p.fqdn, nameserver: nsIp });
      const ip = await sw.plug(keeper, i + 2);
      return { role: p.role, fqdn: p.fqdn, short, ip, keeper, dir, ...(p.release ? { release: p.release } : {}) };
    }));
    const records = new Map(hosts.map((h) => [h.fqdn, h.ip]));
    const ns = hosts[0]!;
    const dns = await startDns(ns.keeper, ns.dir, ns.ip, records, [{ domain: destDomain, host: `mx.${destDomain}` }], spec.dnsOptions);
    const ws = await setupWorkstation(hosts[1]!.keeper, hosts[1]!.dir);

    const lanIp = hosts.find((h) => h.role === 'lan')?.ip;
    const withPostfix = new Set((spec.others ?? []).filter((o) => o.postfix).map((o) => o.fqdn));
    await Promise.all(hosts.filter((h) => h.role === 'relay' || h.role === 'client' || h.role === 'destination' || h.role === 'lan' || withPostfix.has(h.fqdn)).map(async (h) => {
      // A release root has no nft: the rules go into its network namespace with this machine's.
      if (h.role === 'client') await (h.release ? inHostNet(h.keeper, ['sh', '-c', ispBlock(lanIp)]) : h.keeper.sh(ispBlock(lanIp)));
      if (h.role === 'lan') {
        await h.keeper.run(['useradd', '--create-home', spec.lan!.user]);
        h.postfix = await installStockPostfix(h.keeper, h.dir, h.fqdn, { mydestination: `$myhostname, ${spec.lan!.domain}, localhost`, smtpd_tls_ask_ccert: 'yes', smtpd_tls_loglevel: '1' });
        return;
      }
      if (h.role === 'other') {
        h.postfix = await installStockPostfix(h.keeper, h.dir, h.fqdn);
        return;
      }
      if (h.role === 'destination') {
        await h.keeper.run(['useradd', '--create-home', destUser]);
        h.postfix = await installStockPostfix(h.keeper, h.dir, h.fqdn, { mydestination: `$myhostname, ${destDomain}, localhost` });
        if (spec.spfReceiver) await enableSpfPolicy(h.keeper);
        return;
      }
      const [postfix, sshd] = await Promise.all([
        installStockPostfix(h.keeper, h.dir, h.fqdn),
        startStockSshd(h.keeper, h.dir, { rootKeys: spec.admin?.forbidRoot ? [] : [ws.publicKey], forbidRoot: spec.admin?.forbidRoot }),
      ]);
      h.postfix = postfix;
      h.hostKey = sshd.hostKey;
      ws.trustHost([h.fqdn, h.ip], sshd.hostKey);
      if (spec.admin) await addAdminUser(h.keeper, h.dir, spec.admin.user, [ws.publicKey], spec.admin.sudoers);
    }));
    const byShort = new Map(hosts.map((h) => [h.short, h]));
    return {
      root,
      domain: spec.domain,
      ws,
      dns,
      nameserver: ns,
      relays: hosts.filter((h) => h.role === 'relay'),
      clients: hosts.filter((h) => h.role === 'client'),
      destination: hosts.find((h) => h.role === 'destination')!,
      lan: hosts.find((h) => h.role === 'lan'),
      others: hosts.filter((h) => h.role === 'other'),
      destUser,
      destDomain,
      all: hosts,
      host(short) {
        const h = byShort.get(short);
        if (!h) throw new Error(`no lab host ${short}`);
        return h;
      },
      records,
      setSudoers: (h, user, text) => setSudoers(h.keeper, h.dir, user, text),
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
