// Mail that arrives, in the multi-host lab: the destination MX checks SPF as receivers do (Debian's
// policyd-spf, rejecting SPF fail) and the sender domain hq.test publishes "v=spf1 ip4:<old address> -all".
// Relayed mail bounces until the record that `dns` prints is published; then it lands with
// Received-SPF: Pass and the old address still passes. PTR and HELO problems are FAILs with their fix;
// check --live tells blocked, intercepted (an ISP proxy) and open port 25 apart, and a relay that
// cannot send on port 25 fails. Every DNS question goes to the lab's dnsmasq (--resolver or the
// workstation's resolv.conf, which names it); nothing leaves the lab.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { hostsLabPrerequisites, requirePrerequisites } from '../support/prereq.js';
import { createHostsLab, type HostsLab, type LabHost } from '../support/hosts/lab.js';
import { esc, explain, initProject, json, ok, swaksIn, type CheckJson } from '../support/hosts/story.js';
import type { CliResult } from '../support/project.js';

const SPEC = {
  domain: 'hq.test', relays: ['smarthost'], clients: ['office1', 'office2'], spfReceiver: true,
  others: [{ fqdn: 'ypsmtpproxy01.isp.test', postfix: true }, { fqdn: 'oldmx.hq.test' }],
};

interface DnsJson {
  ok: boolean;
  relays: { fqdn: string; addresses: { address: string; ptr?: string[]; confirmed?: boolean }[]; helo?: string; nat?: boolean }[];
  domains: { domain: string; published?: string[]; toPublish?: string; lookups?: number; findings: unknown[] }[];
  findings: { check: string; domain?: string; relay?: string; address?: string; state: string; text: string }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every file of the project with its size and mtime: "nothing written" is this, unchanged. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        out.push(`${path.relative(dir, p)} ${st.size} ${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out.sort();
}

describe('e2e hosts lab: deliverability — SPF, PTR, HELO and port 25', function () {
  this.timeout(600_000);
  let lab: HostsLab | undefined;
  let relay: LabHost;
  let office1: LabHost;
  let office2: LabHost;
  let dest: LabHost;
  let proxy: LabHost;
  let oldmx: LabHost;
  /** The DNS options every phase starts from: the sender domain's MX (for the bounce) and its SPF record. */
  let base: string[];
  let spf: string;
  let undeployed: CliResult;
  /** The destination's banner after its name, as this release's Postfix says it ("ESMTP Postfix (Debian/GNU)" on 12, "(Debian)" on 13). */
  let banner: string;

  const dnsCli = (args: string[]) => lab!.ws.cli(['dns', '--resolver', lab!.dns.ip, ...args]);
  const withDns = async (extra: string[], txt = spf) => lab!.dns.setOptions([...base, `--txt-record=hq.test,${txt}`, ...extra]);
  const problems = (r: CliResult) => r.stdout.trim().split('\n').filter(Boolean);

  before(async function () {
    requirePrerequisites(this, hostsLabPrerequisites());
    lab = await createHostsLab(SPEC);
    try {
      [relay, office1, office2, dest, proxy, oldmx] = [lab.relays[0]!, lab.clients[0]!, lab.clients[1]!, lab.destination, lab.others[0]!, lab.others[1]!];
      base = ['--mx-host=hq.test,office1.hq.test,10'];
      spf = `v=spf1 ip4:${oldmx.ip} -all`;
      await withDns([]);
      banner = (await dest.postfix!.postconf(['-xh', 'smtpd_banner'])).trim().replace(/^\S+ /, '');
      // office1 receives hq.test's mail (the bounce comes back there); office2's ISP does not block port 25.
      await office1.keeper.run(['useradd', '--create-home', 'alice']);
      await office1.keeper.run(['postconf', '-e', 'mydestination=$myhostname, hq.test, localhost']);
      await office1.keeper.run(['postfix', 'reload']);
      await office2.keeper.run(['nft', 'delete', 'table', 'inet', 'isp']);
      await initProject(lab, ['office1', 'office2'], ['smtp_probe_host := mx.dest.test']);
      await ok(lab, ['build']);
      // Before anything is installed: the port-25 probe needs only the host's own Postfix.
      undeployed = await lab.ws.cli(['check', 'client', '--live', '--json']);
      await ok(lab, ['deploy']);
    } catch (e) {
      await lab.teardown();
      lab = undefined;
      throw e;
    }
  });
  after(async () => {
    await lab?.teardown();
  });

  let toPublish: string;

  it('before: relayed mail is rejected with SPF fail (bounce to the sender, 5xx in the relay log); dns --check exits 1 naming hq.test and prints the record', async () => {
    toPublish = `v=spf1 ip4:${oldmx.ip} ip4:${relay.ip} -all`;
    const since = { relay: relay.postfix!.mark(), dest: dest.postfix!.mark() };
    await office1.postfix!.send('alice@hq.test', `${lab!.destUser}@${lab!.destDomain}`, 'before the SPF record');
    await dest.postfix!.waitForLog(new RegExp(`NOQUEUE: reject: RCPT from ${esc(relay.fqdn)}\\[${esc(relay.ip)}\\]: 550 5\\.7\\.23 .*SPF fail - not authorized.*from=<alice@hq\\.test>`), { since: since.dest });
    await relay.postfix!.waitForLog(/to=<alice@dest\.test>, relay=mx\.dest\.test\[[\d.]+\]:25, .*dsn=5\.7\.23, status=bounced \(host mx\.dest\.test\[[\d.]+\] said: 550 5\.7\.23/, { since: since.relay });
    // The bounce reaches the client's sender, with the receiver's reason.
    const deadline = Date.now() + 30_000;
    while (!/Undelivered Mail Returned to Sender/.test(office1.postfix!.mailbox('alice')) && Date.now() < deadline) await sleep(200);
    const bounce = office1.postfix!.mailbox('alice');
    expect(bounce).to.match(/Undelivered Mail Returned to Sender/);
    expect(bounce, bounce).to.match(/said: 550\s+5\.7\.23\s/).and.match(/SPF\s+fail\s+-\s+not\s+authorized/);
    expect(dest.postfix!.mailbox(lab!.destUser)).to.not.include('Subject: before the SPF record');
    const check = await dnsCli(['--check']);
    expect(check.code, explain(check)).to.equal(1);
    expect(problems(check)).to.deep.equal([
      `FAIL spf hq.test ${relay.fqdn} ${relay.ip}: SPF fail for mail from hq.test sent by ${relay.fqdn} (${relay.ip}); publish as the TXT record of hq.test: "${toPublish}"`,
    ]);
    const j = json<DnsJson>(await dnsCli(['--json']));
    expect(j.domains.map(({ findings: _, ...d }) => d)).to.deep.equal([{ domain: 'hq.test', published: [spf], toPublish, lookups: 0 }]);
    expect(j.relays[0]).to.include({ fqdn: relay.fqdn, helo: relay.fqdn, nat: false });
    expect(j.relays[0]!.addresses).to.deep.equal([{ address: relay.ip, ptr: [relay.fqdn], confirmed: true }]);
    const text = await dnsCli([]);
    expect(text.code, explain(text)).to.equal(0);
    expect(text.stdout).to.include(`publish as the TXT record of hq.test: "${toPublish}"`).and.include(`sends from: ${relay.ip} (its own address)`);
    // instructions: the relay's steps end with what receivers check, and with --dns with the report itself.
    const inst = await ok(lab!, ['instructions', '--dns', '--resolver', lab!.dns.ip]);
    const relayPart = inst.stdout.slice(inst.stdout.indexOf(`== ${relay.fqdn}: `), inst.stdout.indexOf(`== ${office1.fqdn}: `));
    expect(relayPart).to.include('4. Before the first mail, what receivers check').and.include(`   publish as the TXT record of hq.test: "${toPublish}"`);
    const nagios = await dnsCli(['--nagios']);
    expect(nagios.code, explain(nagios)).to.equal(2);
    expect(nagios.stdout).to.match(/^POSTFIX-TLS-RELAY CRITICAL - FAIL spf hq\.test /);
    const prom = await dnsCli(['--format', 'prometheus']);
    expect(prom.stdout).to.include(`postfix_tls_relay_dns_check{address="${relay.ip}",check="spf",domain="hq.test",relay="${relay.fqdn}"} 0`);
    // The questions went to the lab's name server.
    expect(lab!.dns.log()).to.include(`query[TXT] hq.test from ${lab!.all.find((h) => h.role === 'workstation')!.ip}`);
  });

  it('after publishing exactly the printed record: the mail lands with Received-SPF: Pass, dns --check exits 0, the old address still passes', async () => {
    await withDns([], toPublish);
    const subject = `after the SPF record ${Date.now()}`;
    await office1.postfix!.send('alice@hq.test', `${lab!.destUser}@${lab!.destDomain}`, subject);
    const deadline = Date.now() + 30_000;
    let msg: string | undefined;
    while (!msg && Date.now() < deadline) {
      msg = dest.postfix!.mailbox(lab!.destUser).split(/^From /m).find((m) => m.includes(`Subject: ${subject}\n`));
      if (!msg) await sleep(200);
    }
    expect(msg, 'delivered').to.be.a('string');
    expect(msg).to.match(new RegExp(`^Received-SPF: Pass \\(mailfrom\\) identity=mailfrom; client-ip=${esc(relay.ip)}; helo=${esc(relay.fqdn)}; envelope-from=alice@hq\\.test;`, 'm'));
    const check = await dnsCli(['--check']);
    expect(check.code, explain(check)).to.equal(0);
    expect(check.stdout).to.equal('');
    const nagios = await dnsCli(['--nagios']);
    expect(nagios.code, explain(nagios)).to.equal(0);
    expect(nagios.stdout).to.match(/^POSTFIX-TLS-RELAY OK - DNS OK/);
    // The system resolver of the workstation is the lab's name server too.
    expect((await lab!.ws.cli(['dns', '--check'])).code).to.equal(0);
    // Nothing dropped: the old address still sends for hq.test.
    const old = await swaksIn(oldmx, ['--server', dest.fqdn, '--port', '25', '--helo', oldmx.fqdn, '--from', 'alice@hq.test', '--to', `${lab!.destUser}@${lab!.destDomain}`, '--header', 'Subject: from the old address']);
    expect(old.code, old.output).to.equal(0);
    expect(old.output).to.match(/<- {2}250 .*queued as/);
    await sleep(500);
    const oldMsg = dest.postfix!.mailbox(lab!.destUser).split(/^From /m).find((m) => m.includes('Subject: from the old address'));
    expect(oldMsg).to.match(new RegExp(`^Received-SPF: Pass \\(mailfrom\\) .*client-ip=${esc(oldmx.ip)};`, 'm'));
  });

  it('a missing PTR, a PTR that does not resolve back and a HELO name other than the PTR name: each a FAIL with its fix', async () => {
    const reverse = `${relay.ip.split('.').reverse().join('.')}.in-addr.arpa`;
    const records = new Map(lab!.records);
    // An A record without a PTR.
    records.delete(relay.fqdn);
    await lab!.dns.setRecords(records);
    await withDns([`--address=/${relay.fqdn}/${relay.ip}`], toPublish);
    try {
      const r = await dnsCli(['--check']);
      expect(r.code, explain(r)).to.equal(1);
      expect(problems(r)).to.deep.equal([`FAIL ptr ${relay.fqdn} ${relay.ip}: ${relay.ip} has no PTR record; ask the provider of ${relay.ip}: "set the PTR of ${relay.ip} to ${relay.fqdn}"`]);
    } finally {
      await lab!.dns.setRecords(lab!.records);
    }
    // A PTR to a name that does not exist.
    const dyn = `dyn-${relay.ip.replace(/\./g, '-')}.pool.isp.test`;
    await withDns([`--ptr-record=${reverse},${dyn}`], toPublish);
    const r2 = await dnsCli(['--check']);
    expect(r2.code, explain(r2)).to.equal(1);
    expect(problems(r2)).to.include(`FAIL fcrdns ${relay.fqdn} ${relay.ip}: the PTR name ${dyn} of ${relay.ip} does not resolve back to it (no such name); ask the provider of ${relay.ip}: "set the PTR of ${relay.ip} to ${relay.fqdn}", or publish ${dyn} → ${relay.ip}`);
    expect(lab!.dns.log()).to.include(`config ${dyn} is NXDOMAIN`);
    // The relay announces another name than its PTR.
    await withDns([], toPublish);
    await relay.keeper.run(['postconf', '-e', 'smtp_helo_name=mail.hq.test']);
    await relay.keeper.run(['postfix', 'reload']);
    try {
      const r3 = await dnsCli(['--check']);
      expect(r3.code, explain(r3)).to.equal(1);
      expect(problems(r3)).to.deep.equal([`FAIL helo ${relay.fqdn} ${relay.ip}: HELO mail.hq.test is not the PTR name ${relay.fqdn} of ${relay.ip}; set smtp_helo_name = ${relay.fqdn} on the relay (postconf -e smtp_helo_name=${relay.fqdn} && postfix reload), or have the PTR set to mail.hq.test`]);
    } finally {
      await relay.keeper.run(['postconf', '-X', 'smtp_helo_name']);
      await relay.keeper.run(['postfix', 'reload']);
    }
    expect((await dnsCli(['--check'])).code).to.equal(0);
  });

  it('dual stack: an IPv6 address without AAAA, then with AAAA and PTR but not in SPF: each a FAIL naming smtp_address_preference = ipv4; the printed record makes it pass', async () => {
    const v6 = 'fd00:231:47::4';
    await relay.keeper.run(['ip', '-6', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
    try {
      const hint = 'or, until its IPv6 side is ready, set smtp_address_preference = ipv4 on the relay (postconf -e smtp_address_preference=ipv4 && postfix reload)';
      const r = await dnsCli(['--check']);
      expect(r.code, explain(r)).to.equal(1);
      expect(problems(r)).to.deep.equal([`FAIL ipv6 ${relay.fqdn} ${v6}: ${relay.fqdn} has the IPv6 address ${v6} but no AAAA record for it: mail over IPv6 leaves without a name receivers can confirm; publish the AAAA, its PTR and the SPF term; ${hint}`]);
      // AAAA and PTR published (host-record makes both), SPF not yet.
      await withDns([`--host-record=${relay.fqdn},${v6}`], toPublish);
      const withV6 = `v=spf1 ip4:${oldmx.ip} ip4:${relay.ip} ip6:${v6} -all`;
      const r2 = await dnsCli(['--check']);
      expect(r2.code, explain(r2)).to.equal(1);
      expect(problems(r2)).to.deep.equal([`FAIL spf hq.test ${relay.fqdn} ${v6}: SPF fail for mail from hq.test sent by ${relay.fqdn} (${v6}); publish as the TXT record of hq.test: "${withV6}"; ${hint}`]);
      const j = json<DnsJson>(await dnsCli(['--json']));
      expect(j.relays[0]!.addresses).to.deep.equal([{ address: relay.ip, ptr: [relay.fqdn], confirmed: true }, { address: v6, ptr: [relay.fqdn], confirmed: true }]);
      await withDns([`--host-record=${relay.fqdn},${v6}`], withV6);
      const r3 = await dnsCli(['--check']);
      expect(r3.code, explain(r3)).to.equal(0);
    } finally {
      await relay.keeper.run(['ip', '-6', 'addr', 'del', `${v6}/64`, 'dev', 'eth0']);
      await withDns([], toPublish);
    }
  });

  const port25 = (c: CheckJson, host: LabHost) => c.hosts.find((h) => h.fqdn === host.fqdn)!.checks.find((x) => x.name.startsWith('live outbound port 25'))!;

  it('check --live: port 25 blocked behind the ISP block, open without one (EHLO and QUIT only), intercepted behind a proxy (its name shown)', async () => {
    const since = dest.postfix!.mark();
    const r = await lab!.ws.cli(['check', 'client', '--live', '--json']);
    expect(r.code, explain(r)).to.equal(0);
    const c = json<CheckJson>(r);
    expect(port25(c, office1)).to.include({ name: 'live outbound port 25 to mx.dest.test:25', ok: true });
    expect(port25(c, office1).actual).to.match(new RegExp(`^blocked: this is why this host needs the relay \\(connect to mx\\.dest\\.test\\[${esc(dest.ip)}\\]:25: Connection refused\\)$`));
    expect(port25(c, office2).actual).to.equal(`open: this host could deliver directly; the relay is optional (mx.dest.test[${dest.ip}]:25 answered "220 mx.dest.test ${banner}")`);
    // The same answers on the hosts before the first deploy (their other checks FAIL then: nothing is installed).
    expect(undeployed.code, explain(undeployed)).to.equal(1);
    const u = json<CheckJson>(undeployed);
    expect(port25(u, office1).actual).to.equal(port25(c, office1).actual);
    expect(port25(u, office2).actual).to.equal(port25(c, office2).actual);
    expect(u.hosts[0]!.checks.filter((x) => !x.ok && x.name.startsWith('file ') && x.actual.startsWith('missing')), 'the bundle is not there yet').to.not.be.empty;
    // No mail: the destination counts EHLO and QUIT only.
    await dest.postfix!.waitForLog(new RegExp(`disconnect from ${esc(office2.fqdn)}\\[${esc(office2.ip)}\\] ehlo=1 quit=1 commands=2`), { since });

    // The ISP's transparent proxy: office1's port 25 goes to ypsmtpproxy01.isp.test instead.
    await office1.keeper.run(['nft', 'delete', 'table', 'inet', 'isp']);
    await office1.keeper.run(['nft', '-f', '-'], { input: `table ip ispnat {\n  chain output {\n    type nat hook output priority -100; policy accept;\n    oifname != "lo" tcp dport 25 dnat to ${proxy.ip}\n  }\n}\n` });
    const sinceProxy = proxy.postfix!.mark();
    try {
      const i = json<CheckJson>(await lab!.ws.cli(['check', 'client', '--live', '--json']));
      expect(port25(i, office1).actual).to.equal(`intercepted by ypsmtpproxy01.isp.test: this is why this host needs the relay (dialled mx.dest.test[${dest.ip}]:25, answered by ypsmtpproxy01.isp.test ("220 ypsmtpproxy01.isp.test ${banner}"))`);
      await proxy.postfix!.waitForLog(new RegExp(`connect from ${esc(office1.fqdn)}\\[${esc(office1.ip)}\\]`), { since: sinceProxy });
    } finally {
      await office1.keeper.run(['nft', 'delete', 'table', 'ip', 'ispnat']);
      await office1.keeper.sh("nft add table inet isp; nft add chain inet isp out '{ type filter hook output priority 0; }'; nft add rule inet isp out tcp dport 25 reject with tcp reset");
    }
  });

  it('check --live server: open port 25 and outbound TLS pass; port 25 dropped by the provider or smtp_tls_security_level = none: FAIL, exit 1', async () => {
    const r = await lab!.ws.cli(['check', 'server', '--live', '--json']);
    expect(r.code, explain(r)).to.equal(0);
    const c = json<CheckJson>(r);
    expect(port25(c, relay)).to.include({ ok: true, actual: `open (mx.dest.test[${dest.ip}]:25 answered "220 mx.dest.test ${banner}")` });
    expect(c.hosts[0]!.checks.find((x) => x.name.startsWith('live outbound TLS'))).to.include({ ok: true, actual: 'may' });

    await relay.keeper.run(['nft', '-f', '-'], { input: 'table inet provider {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    oifname != "lo" tcp dport 25 counter drop\n  }\n}\n' });
    try {
      const t0 = Date.now();
      const d = await lab!.ws.cli(['check', 'server', '--live']);
      expect(d.code, explain(d)).to.equal(1);
      expect(Date.now() - t0, 'a dropped port gives up after the probe\'s 5 s').to.be.below(20_000);
      expect(d.stdout).to.match(new RegExp(`FAIL  live outbound port 25 to mx\\.dest\\.test:25: expected open, actual ${esc(relay.fqdn)} cannot deliver: outbound port 25 blocked \\(ask the provider to open it\\): connect to mx\\.dest\\.test\\[${esc(dest.ip)}\\]:25: Connection timed out`));
    } finally {
      await relay.keeper.run(['nft', 'delete', 'table', 'inet', 'provider']);
    }
    await relay.keeper.run(['postconf', '-e', 'smtp_tls_security_level=none']);
    try {
      const n = await lab!.ws.cli(['check', 'server', '--live']);
      expect(n.code, explain(n)).to.equal(1);
      expect(n.stdout).to.include(`FAIL  live outbound TLS of the relay (main.cf smtp_tls_security_level): expected may, encrypt, dane, verify or secure, actual none: ${relay.fqdn} sends in clear`);
    } finally {
      await relay.keeper.run(['postconf', '-e', 'smtp_tls_security_level=may']);
    }
    // Without smtp_probe_host: the first MX of the domain (hq.test → office1), as the relay resolves it.
    const m = json<CheckJson>(await lab!.ws.cli(['check', 'server', '--live', '--json', '--set', 'smtp_probe_host=']));
    expect(port25(m, relay)).to.include({ name: 'live outbound port 25 to the first MX of hq.test', ok: true });
    expect(port25(m, relay).actual).to.match(new RegExp(`^open \\(office1\\.hq\\.test\\[${esc(office1.ip)}\\]:25 answered "220 office1\\.hq\\.test ESMTP`));
  });

  it('bad input: a resolver that does not answer, an SPF syntax error, more than 10 lookups, two SPF records, a sender domain that is not a domain name', async () => {
    // An unused lab address: nothing answers there.
    const silent = `${relay.ip.split('.').slice(0, 3).join('.')}.250`;
    const t0 = Date.now();
    const r = await lab!.ws.cli(['dns', '--check', '--resolver', silent]);
    expect(Date.now() - t0, 'each query gives up after 5 s, all at once').to.be.below(20_000);
    expect(r.code, explain(r)).to.equal(1);
    expect(problems(r)).to.include(`could not check spf-record hq.test: TXT of hq.test: no answer from resolver ${silent} within 5 s`);
    expect(problems(r).every((l) => l.startsWith('could not check ')), r.stdout).to.equal(true);
    const n = await lab!.ws.cli(['dns', '--nagios', '--resolver', silent]);
    expect(n.code, explain(n)).to.equal(3);
    expect(n.stdout).to.match(/^POSTFIX-TLS-RELAY UNKNOWN - could not check /);

    const many = `v=spf1 ${Array.from({ length: 11 }, () => `a:${relay.fqdn}`).join(' ')} -all`;
    await withDns([
      '--txt-record=bad.hq.test,v=spf1 ip4:10.231.47.300 -all',
      `--txt-record=many.hq.test,${many}`,
      '--txt-record=two.hq.test,v=spf1 -all', '--txt-record=two.hq.test,v=spf1 ~all',
    ], toPublish);
    const b = await dnsCli(['--check', '--set', 'sender_domains=bad.hq.test many.hq.test two.hq.test']);
    expect(b.code, explain(b)).to.equal(1);
    const lines = problems(b);
    expect(lines).to.have.length(3);
    expect(lines[0]).to.equal('FAIL spf-record bad.hq.test: the SPF record of bad.hq.test is invalid, so receivers give permerror: invalid IP address ("v=spf1 ip4:10.231.47.300 -all"); correct it');
    expect(lines[1]).to.match(/^FAIL spf-lookups many\.hq\.test: the SPF record of many\.hq\.test needs more than 10 DNS lookups \(RFC 7208 4\.6\.4\)/);
    expect(lines[2]).to.match(/^FAIL spf-record two\.hq\.test: two\.hq\.test publishes 2 SPF records \(.*\); receivers give permerror: merge them into one TXT record$/);

    // Usage errors: exit 2, one line, nothing written.
    const before = snapshot(lab!.ws.projectDir);
    const d = await dnsCli(['--check', '--set', 'sender_domains=hq.test not_a_domain!']);
    expect(d.code, explain(d)).to.equal(2);
    expect(d.stderr.trim()).to.match(/^postfix-tls-relay: --set: sender_domains: "not_a_domain!" is not .*; list domain names, e.g. "example\.org example\.net"$/);
    const o = await lab!.ws.cli(['dns', '--resolver', 'ns.hq.test']);
    expect(o.code, explain(o)).to.equal(2);
    expect(o.stderr.trim()).to.equal('postfix-tls-relay: --resolver "ns.hq.test" is not an IP address; give the DNS server\'s address, e.g. --resolver 192.0.2.53');
    expect(snapshot(lab!.ws.projectDir)).to.deep.equal(before);
  });
});
