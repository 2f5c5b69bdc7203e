// `dns [--check] [--resolver ADDR] [--nagios | --format prometheus]`: see lib/services/dns.ts.
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { UsageError } from '../errors.js';
import { dnsReport } from '../services/dns.js';
import { dnsNagios, dnsProblems, dnsPrometheus, dnsText } from '../services/dns-output.js';

export interface DnsArgs extends GlobalArgs {
  check?: boolean;
  resolver?: string;
  ssh?: boolean;
  sshOption?: string[];
  nagios?: boolean;
  format?: 'text' | 'prometheus';
}

export async function dns(args: DnsArgs): Promise<number> {
  if (args.nagios && (args.json || args.format === 'prometheus')) throw new UsageError('dns --nagios prints a plugin line; it cannot be combined with --json or --format prometheus');
  if (args.format === 'prometheus' && args.json) throw new UsageError('dns --format prometheus: cannot be combined with --json');
  const ctx = loadContext(args.nagios || args.format === 'prometheus' ? { ...args, quiet: true } : args);
  const r = await dnsReport(ctx.settings, ctx.projectDir, { resolver: args.resolver, ssh: args.ssh, sshOption: args.sshOption }, ctx.report);
  if (args.nagios) {
    const n = dnsNagios(r);
    process.stdout.write(`${n.line}\n`);
    return n.code;
  }
  if (args.format === 'prometheus') {
    process.stdout.write(dnsPrometheus(r));
    return args.check && !r.ok ? 1 : 0;
  }
  if (args.check && !args.json) {
    // Like status --check: one line per problem, nothing when all is well.
    for (const line of dnsProblems(r)) process.stdout.write(`${line}\n`);
    return r.ok ? 0 : 1;
  }
  ctx.report.result(r, () => dnsText(r));
  return args.check && !r.ok ? 1 : 0;
}
