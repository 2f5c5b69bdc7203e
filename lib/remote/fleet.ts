// Deploying a fleet in two phases: every relay, then every client, up to `jobs` hosts of a phase at once.
// A host's lines are kept and printed together when it is done. A failing host never stops the others of
// its phase; a client goes only when every relay lists its entry (deployed now, or read over ssh), and
// none goes after a relay of this run failed.
import { RunError } from '../errors.js';
import { ALLOWLIST } from '../files/layout.js';
import { deployHost, emptyResult, clientsMissingOn, type HostDeploy } from './deploy.js';
import { hostCommands, type HostCommands } from './host-commands.js';
import { connectAhead, releaseConnection } from './run.js';
import type { SudoMode } from './sudo.js';
import type { Digests } from './survey.js';
import { mapConcurrent } from './pool.js';
import { isRelay, type Host, type Server, type Settings } from '../settings/index.js';

/** Where a host's lines go once it is done (the command's reporter). */
export interface FleetOutput {
  info(line: string): void;
  detail(line: string): void;
  error(line: string): void;
}

export interface FleetOptions {
  settings: Settings;
  sshOptions: readonly string[];
  jobs: number;
  out: FleetOutput;
  /** How sudo gets its password for a non-root ssh user (see sudo.ts), and the password with --ask-sudo-pass. */
  sudoMode: SudoMode;
  sudoPassword?: Buffer;
  /** The allowlist as built (etc/postfix/relay_clientcerts): what a relay outside the run must list. */
  allowlist: string;
  /** The bundle files' sha256 as the build recorded them (checked before shipping): what each host's files are compared with. */
  digests?: Digests;
}

type Line = [keyof FleetOutput, string];

/** Deploys one host with its output held back, then printed in one piece; a failure becomes a "failed" result. */
async function deployKept(o: FleetOptions, host: Host, cmds: HostCommands): Promise<HostDeploy> {
  const lines: Line[] = [];
  const t0 = performance.now();
  let r: HostDeploy;
  try {
    r = await deployHost(o.settings, host, cmds, (line) => lines.push(['detail', `${host.fqdn}: ${line}`]), o.sudoPassword);
    for (const f of r.files) lines.push(['info', `${host.fqdn}: ${f.change} ${f.path}`]);
    for (const l of r.applyOutput.slice(0, -1)) lines.push(['info', `${host.fqdn}: ${l}`]);
  } catch (err) {
    if (!(err instanceof RunError)) throw err;
    lines.push(['error', err.message]);
    r = emptyResult(host, 'failed', err.message);
  }
  r.ms = Math.round(performance.now() - t0);
  // A client is done for this run; a relay may be read or deployed again (a rotation that ends).
  if (!isRelay(host)) releaseConnection(o.settings.projectDir, host.ssh);
  for (const [level, text] of lines) o.out[level](text);
  return r;
}

/** Deploys `hosts` of one phase, up to o.jobs at once; results in the hosts' order. */
export function deployPhase(o: FleetOptions, hosts: readonly Host[]): Promise<HostDeploy[]> {
  return mapConcurrent(hosts, o.jobs, (h) => deployKept(o, h, hostCommands(o.settings, h, o.sshOptions, o.sudoMode, undefined, o.digests)));
}

/**
 * Why each client must wait, by fqdn: relays not part of this run are read over ssh, and a client that
 * one of them does not list (or that cannot be read) stays where it is.
 */
export async function blockedClients(o: FleetOptions, clients: readonly Host[], unsure: readonly Server[]): Promise<Map<string, string>> {
  const blocked = new Map<string, string>();
  const found = await mapConcurrent(unsure, o.jobs, async (relay) => {
    try {
      return { relay, missing: await clientsMissingOn(o.settings, relay, clients, o.sshOptions, o.allowlist), error: undefined };
    } catch (err) {
      if (!(err instanceof RunError)) throw err;
      return { relay, missing: [...clients], error: err.message };
    }
  });
  for (const { relay, missing, error } of found) {
    if (error) o.out.error(error);
    else if (missing.length) o.out.error(`the relay ${relay.fqdn} does not list ${missing.map((c) => c.fqdn).join(', ')} as built in ${ALLOWLIST}; deploy the relay first (postfix-tls-relay deploy server, or deploy all)`);
    for (const c of missing) {
      if (!blocked.has(c.fqdn)) blocked.set(c.fqdn, `the relay ${relay.fqdn} does not list it${error ? ' (its allowlist cannot be read)' : ' yet'}, and a client must not use a certificate a relay may not trust`);
    }
  }
  return blocked;
}

export interface FleetResult {
  relays: HostDeploy[];
  clients: HostDeploy[];
}

/** Relays, then the clients every relay lists. */
export async function deployFleet(o: FleetOptions, hosts: readonly Host[]): Promise<FleetResult> {
  const relayHosts = hosts.filter(isRelay);
  const clients = hosts.filter((h) => !isRelay(h));
  // --jobs slots the relays leave free log in to the first clients meanwhile: only the ssh login, nothing
  // runs on a client before every relay is done (a client kept back has seen a login, nothing else).
  const free = Math.max(0, o.jobs - relayHosts.length);
  for (const c of clients.slice(0, free)) connectAhead(o.settings.projectDir, hostCommands(o.settings, c, o.sshOptions, o.sudoMode, undefined, o.digests).survey);
  const relays = await deployPhase(o, relayHosts);
  if (clients.length === 0) return { relays, clients: [] };
  const failed = relays.find((r) => r.state === 'failed');
  if (failed) {
    // Its allowlist is whatever the failure left: no client goes ahead of it.
    const why = `the relay ${failed.fqdn} was not deployed, and a client must not use a certificate a relay may not trust yet`;
    return { relays, clients: clients.map((c) => emptyResult(c, 'skipped', why)) };
  }
  const done = new Set(relays.map((r) => r.fqdn));
  const blocked = await blockedClients(o, clients, o.settings.servers.filter((r) => !done.has(r.fqdn)));
  const ready = clients.filter((c) => !blocked.has(c.fqdn));
  const deployed = await deployPhase(o, ready);
  return { relays, clients: clients.map((c) => deployed.find((d) => d.fqdn === c.fqdn) ?? emptyResult(c, 'skipped', blocked.get(c.fqdn)!)) };
}
