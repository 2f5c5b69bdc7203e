// testssl.sh (Debian's package) against an SMTP port of a lab, read from its flat JSON file. Offline: the
// address is given (--ip), no DNS lookup at all (--nodns none), no CRL/OCSP fetch (no --phone-out), the
// project's CA trusted (--add-ca) so that the chain is judged as our clients judge it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { findCommand } from './prereq.js';

export interface Finding {
  id: string;
  severity: string;
  finding: string;
}

export interface TestsslResult {
  findings: Finding[];
  /** The first finding with this id ("LUCKY13", "cipher_order", "TLS1_2" …). */
  get(id: string): Finding | undefined;
  /** Every finding, one line each, for assertion messages. */
  text: string;
}

/** testssl's program name: Debian installs `testssl` (the upstream name is testssl.sh). */
export function testsslCommand(): string | undefined {
  return findCommand('testssl') ?? findCommand('testssl.sh');
}

export async function testssl(opts: { host: string; port: number; ip: string; ca: string }): Promise<TestsslResult> {
  const bin = testsslCommand();
  if (!bin) throw new Error('testssl not found: install Debian\'s testssl.sh package (scripts/install-system-packages.sh)');
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'ptr-testssl-'));
  try {
    const json = path.join(dir, 'out.json');
    const argv = [
      '--quiet', '--color', '0', '--warnings', 'batch', '--sneaky', '--nodns', 'none', '--ip', opts.ip,
      '-t', 'smtp', '--add-ca', opts.ca, '--jsonfile', json, `${opts.host}:${opts.port}`,
    ];
    const r = await execa(bin, argv, { reject: false, all: true, timeout: 600_000, stdin: 'ignore', cwd: dir });
    let findings: Finding[];
    try {
      findings = (JSON.parse(await fs.promises.readFile(json, 'utf8')) as Finding[]).map((f) => ({ id: f.id, severity: f.severity, finding: f.finding }));
    } catch (e) {
      throw new Error(`testssl ${opts.host}:${opts.port} left no JSON (exit ${r.exitCode}): ${(e as Error).message}\n${r.all ?? ''}`);
    }
    if (!findings.some((f) => f.id === 'TLS1_2')) throw new Error(`testssl ${opts.host}:${opts.port} tested no protocol (exit ${r.exitCode}):\n${r.all ?? ''}`);
    return {
      findings,
      get: (id) => findings.find((f) => f.id === id),
      text: findings.map((f) => `${f.id} [${f.severity}] ${f.finding}`).join('\n'),
    };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
