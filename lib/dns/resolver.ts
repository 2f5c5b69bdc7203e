// Every DNS question `dns` asks: the system resolver or --resolver ADDR, each query with its own short
// timeout (Node's Resolver left to its defaults waits about 30 s on a server that does not answer).
// An answer is values, a real "no such record" (NXDOMAIN, no data), or a failure: could not check.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

export const DNS_TIMEOUT_MS = 5000;

export type Answer<T> =
  | { kind: 'ok'; values: T[] }
  | { kind: 'none'; code: string }
  | { kind: 'failed'; code: string; text: string };

/** dns.promises.resolve's signature, which mailauth's SPF evaluation takes as its resolver. */
export type ResolveFn = (name: string, type: string) => Promise<unknown[]>;

const NONE = new Set(['ENOTFOUND', 'ENODATA']);

export class Dns {
  private readonly r: Resolver;
  /** Where the questions go, for messages: "the system resolver" or "resolver 10.0.0.2". */
  readonly where: string;

  constructor(server?: string, readonly timeoutMs = DNS_TIMEOUT_MS) {
    // tries: 1, since a second try waits twice as long; the timeout is the whole budget per query.
    this.r = new Resolver({ timeout: timeoutMs, tries: 1 });
    if (server) this.r.setServers([isIP(server) === 6 ? `[${server}]:53` : server]);
    this.where = server ? `resolver ${server}` : `the system resolver (${this.r.getServers().join(', ') || 'none'})`;
  }

  /** The raw query, for mailauth (errors keep Node's codes: ENOTFOUND, ENODATA, ETIMEOUT …). */
  readonly resolve: ResolveFn = (name, type) => this.r.resolve(name, type) as Promise<unknown[]>;

  private async ask<T>(q: () => Promise<T[]>): Promise<Answer<T>> {
    try {
      return { kind: 'ok', values: await q() };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
      if (NONE.has(code)) return { kind: 'none', code };
      const text = code === 'ETIMEOUT' ? `no answer from ${this.where} within ${this.timeoutMs / 1000} s`
        : code === 'ECONNREFUSED' ? `${this.where} refused the connection`
          : `${this.where}: ${code}`;
      return { kind: 'failed', code, text };
    }
  }

  a = (name: string) => this.ask(() => this.r.resolve4(name));
  aaaa = (name: string) => this.ask(() => this.r.resolve6(name));
  ptr = (ip: string) => this.ask(() => this.r.reverse(ip));
  txt = (name: string) => this.ask(() => this.r.resolveTxt(name));
  mx = (name: string) => this.ask(() => this.r.resolveMx(name));
}

/** --resolver: an IPv4 or IPv6 address (no name: resolving it would need a resolver). */
export function checkResolverAddress(v: string): string | undefined {
  return isIP(v) ? undefined : `"${v}" is not an IP address; give the DNS server's address, e.g. --resolver 192.0.2.53`;
}
