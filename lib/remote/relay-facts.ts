// What `dns` asks a relay over ssh (read-only, one call): the HELO name its Postfix sends, and the
// addresses the host itself has, which tell whether it sends from the address its name has or from
// behind NAT. ip(8) is iproute2 (Priority important, on every Debian install).
import { ssh } from '../programs/ssh.js';
import { RunError } from '../errors.js';
import type { Server } from '../settings/index.js';
import { ProbeScript } from './probe.js';
import { reasonOf, runRemote, unreachable } from './run.js';

export interface RelayFacts {
  /** smtp_helo_name as Postfix expands it ($myhostname by default). */
  helo?: string;
  /** The host's own global addresses (IPv4 and IPv6). */
  addresses?: string[];
  /** Why the facts are missing, one line. */
  error?: string;
}

function script(relay: Server): ProbeScript {
  return new ProbeScript()
    .postconf('helo', relay.postfixDir, ['-xh', 'smtp_helo_name'])
    .add('addr', ['ip', '-o', 'addr', 'show', 'scope', 'global']);
}

/** The address column of `ip -o addr` lines ("2: eth0    inet 10.0.0.5/24 brd … scope global eth0"). */
export function parseAddresses(out: string): string[] {
  return [...out.matchAll(/^\d+:\s+\S+\s+inet6?\s+([0-9a-fA-F.:]+)\//gm)].map((m) => m[1]!.toLowerCase());
}

export async function relayFacts(projectDir: string, relay: Server, options: readonly string[]): Promise<RelayFacts> {
  const s = script(relay);
  const cmd = ssh(relay.ssh, options, s.text());
  let r;
  try {
    r = await runRemote(projectDir, `dns:${relay.fqdn}`, cmd);
  } catch (err) {
    if (err instanceof RunError) return { error: err.message };
    throw err;
  }
  const down = unreachable(relay, r);
  if (down) return { error: down.message };
  const probe = s.parse(r.stdoutText);
  const helo = probe.get('helo');
  const addr = probe.get('addr');
  if (!helo && !addr) return { error: `${relay.fqdn}: no probe output (exit ${r.exitCode}: ${reasonOf(r.stderr)})` };
  return {
    helo: helo?.exit === 0 && helo.out.trim() ? helo.out.trim().toLowerCase() : undefined,
    addresses: addr?.exit === 0 ? parseAddresses(addr.out) : undefined,
    error: helo?.exit !== 0 ? `${relay.fqdn}: postconf -xh smtp_helo_name: ${helo?.out.trim() || 'failed'}` : undefined,
  };
}
