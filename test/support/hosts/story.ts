// Steps the host-lab suites share: a project made with `init` on the workstation, mail sent on a host
// and looked for in the destination's mailbox (relayedBy: through which relay, over verified TLS), swaks
// from inside a host, --json results.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import type { CliResult } from '../project.js';
import type { HostsLab, LabHost } from './lab.js';

export const explain = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

export function json<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON: ${explain(r)}`);
  }
}

/** `init` with flags on the workstation, then `extra` settings lines appended to settings.mk. */
export async function initProject(lab: HostsLab, clients: string[], extra: string[] = []): Promise<void> {
  const r = await lab.ws.cli(['init', '--domain', lab.domain, '--relay', lab.relays[0]!.short, '--port', '2500',
    ...clients.flatMap((c) => ['--client', c]), '--gpg-recipient', lab.ws.recipient, '--yes']);
  expect(r.code, explain(r)).to.equal(0);
  // check --live probes port 25 from every host: to the lab's destination MX, not the domain's (it has none).
  fs.appendFileSync(path.join(lab.ws.projectDir, 'settings.mk'), `${['smtp_client_tls_loglevel := 1', 'smtpd_server_tls_loglevel := 1', `smtp_probe_host := mx.${lab.destDomain}`, ...extra].join('\n')}\n`);
}

export async function ok(lab: HostsLab, args: string[]): Promise<CliResult> {
  const r = await lab.ws.cli(args);
  expect(r.code, `${args.join(' ')}: ${explain(r)}`).to.equal(0);
  return r;
}

/** `s` for a RegExp: the dots and brackets of host names and addresses. */
export const esc = (s: string) => s.replace(/[.[\]]/g, (c) => `\\${c}`);

let counter = 0;
/** Sends a mail on `from` to the destination user; resolves with the unique subject. */
export async function sendMail(lab: HostsLab, from: LabHost): Promise<string> {
  const subject = `lab ${from.short} ${Date.now()}-${counter++}`;
  await from.postfix!.send(`root@${from.fqdn}`, `${lab.destUser}@${lab.destDomain}`, subject);
  return subject;
}

/** Waits until `subject` is in the destination mailbox; returns the message. */
export async function delivered(lab: HostsLab, subject: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const box = lab.destination.postfix!.mailbox(lab.destUser);
    const msg = box.split(/^From /m).find((m) => m.includes(`Subject: ${subject}\n`));
    if (msg) return msg;
    if (Date.now() > deadline) throw new Error(`"${subject}" not delivered to ${lab.destUser}@${lab.destDomain} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const inMailbox = (lab: HostsLab, subject: string) => lab.destination.postfix!.mailbox(lab.destUser).includes(`Subject: ${subject}\n`);

/** swaks inside `host` (the lab's own addresses only); exit code and transcript. */
export async function swaksIn(host: LabHost, args: string[]): Promise<{ code: number; output: string }> {
  const r = await host.keeper.run(['swaks', '--timeout', '15', ...args], { check: false });
  return { code: r.code, output: r.stdout + r.stderr };
}

export interface DeployJson {
  ok: boolean;
  hosts: { fqdn: string; role: string; state: string; files: { path: string; change: string }[]; applyChanges: number | null; reloaded: boolean; error: string | null }[];
}
export interface CheckJson {
  ok: boolean;
  failed: number;
  hosts: { fqdn: string; ok: boolean; checks: { name: string; ok: boolean; expected: string; actual: string }[] }[];
}

export const reloads = (h: LabHost) => (h.postfix!.log().match(/postfix\/master\[\d+\]: reload -- /g) ?? []).length;

/** The failed checks of a check --json result, for assertion messages. */
export const failures = (c: CheckJson) => c.hosts.flatMap((h) => h.checks.filter((x) => !x.ok).map((x) => `${h.fqdn}: ${x.name}: expected ${x.expected}, actual ${x.actual}`)).join('\n');

/** A mail from `client` relayed by `relay` over verified TLS, both sides' log lines, delivered once. */
export async function relayedBy(lab: HostsLab, client: LabHost, relay: LabHost): Promise<void> {
  const since = { client: client.postfix!.mark(), relay: relay.postfix!.mark() };
  const subject = await sendMail(lab, client);
  const msg = await delivered(lab, subject);
  expect(msg, 'received by the relay with TLS').to.match(new RegExp(`by ${esc(relay.fqdn)} \\(Postfix\\) with ESMTPS`));
  expect(lab.destination.postfix!.mailbox(lab.destUser).split(`Subject: ${subject}\n`).length - 1, 'delivered once').to.equal(1);
  await client.postfix!.waitForLog(new RegExp(`Verified TLS connection established to ${esc(relay.fqdn)}\\[${esc(relay.ip)}\\]:2500`), { since: since.client });
  await client.postfix!.waitForLog(new RegExp(`relay=${esc(relay.fqdn)}\\[${esc(relay.ip)}\\]:2500, .*status=sent`), { since: since.client });
  await relay.postfix!.waitForLog(new RegExp(`Trusted TLS connection established from ${esc(client.fqdn)}\\[${esc(client.ip)}\\]`), { since: since.relay });
  expect(client.postfix!.log().slice(since.client), 'nothing in clear or unverified').to.not.match(/(Untrusted|Anonymous) TLS connection|status=bounced/);
}
