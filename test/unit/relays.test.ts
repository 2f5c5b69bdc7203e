// Several relays: the settings that name them, the steps that give each its own key and certificate,
// and the relayhost (or relayhost + smtp_fallback_relay before Postfix 3.5) every client gets.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { allHosts, selectHosts } from '../../lib/files/layout.js';
import { buildPlan } from '../../lib/plan/plan.js';
import { applyContext } from '../../lib/plan/bundle.js';
import { readProjectState } from '../../lib/state/project.js';
import { clientConfig, relayConfig, takesRelayList } from '../../lib/postfix/config.js';
import { renderEjs } from '../../lib/files/render.js';
import { loadSettings, type Settings } from '../../lib/settings/index.js';
import { mapConcurrent } from '../../lib/remote/pool.js';
import { inventory, playbook } from '../../lib/export/ansible.js';

function settings(lines: string[], overrides: string[] = []): Settings {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptr-relays-'));
  writeFileSync(path.join(dir, 'settings.mk'), ['domain := example.org', 'smtp_client_hostname := mailhost', ...lines].join('\n'));
  try {
    return loadSettings({ projectDir: dir, overrides, env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TWO = ['smtpd_server_hostname := relay1', 'smtpd_server_hostnames := relay2'];

describe('several relays', function () {
  describe('settings', function () {
    it('the seed\'s single smtpd_server_hostname is one relay, as before', function () {
      const s = settings(['smtpd_server_hostname := relayhost']);
      expect(s.servers.map((r) => r.fqdn)).to.deep.equal(['relayhost.example.org']);
      expect(s.server).to.equal(s.servers[0]);
    });

    it('smtpd_server_hostnames adds relays after the first, completing host names with the domain', function () {
      const s = settings([...TWO.slice(0, 1), 'smtpd_server_hostnames := relay2 relay3.other.net'], []);
      expect(s.servers.map((r) => r.fqdn)).to.deep.equal(['relay1.example.org', 'relay2.example.org', 'relay3.other.net']);
      expect(s.servers.every((r) => r.role === 'server' && r.port === 2500 && r.relayClientcertsPath === '/etc/postfix/relay_clientcerts')).to.equal(true);
    });

    it('the whole list in smtpd_server_hostnames works without smtpd_server_hostname, and may repeat the first', function () {
      expect(settings(['smtpd_server_hostnames := relay1 relay2']).servers.map((r) => r.fqdn)).to.deep.equal(['relay1.example.org', 'relay2.example.org']);
      expect(settings(['smtpd_server_hostname := relay1', 'smtpd_server_hostnames := relay1 relay2']).servers.map((r) => r.fqdn))
        .to.deep.equal(['relay1.example.org', 'relay2.example.org']);
    });

    it('ssh: user and port for every relay, smtpd_server_ssh_host for the first, the others by fqdn (as the clients)', function () {
      const s = settings([...TWO, 'smtpd_server_ssh_host := 192.0.2.10', 'smtpd_server_ssh_port := 2222', 'smtpd_server_ssh_user := admin']);
      expect(s.servers.map((r) => r.ssh)).to.deep.equal([
        { user: 'admin', host: '192.0.2.10', port: 2222 },
        { user: 'admin', host: 'relay2.example.org', port: 2222 },
      ]);
    });

    it('refuses a relay named twice, a relay that is also a client, and a bad name, naming the setting', function () {
      const bad = (lines: string[]) => {
        try {
          settings(lines);
        } catch (e) {
          expect(e).to.be.instanceOf(UsageError);
          return (e as Error).message;
        }
        throw new Error(`accepted ${lines.join('; ')}`);
      };
      expect(bad(['smtpd_server_hostname := relay1', 'smtpd_server_hostnames := relay2 relay2'])).to.match(/smtpd_server_hostnames names relay2\.example\.org twice/);
      expect(bad(['smtpd_server_hostname := relay1', 'smtpd_server_hostnames := mailhost'])).to.match(/mailhost\.example\.org is named twice/);
      expect(bad(['smtpd_server_hostname := relay1', 'smtpd_server_hostnames := bad_name'])).to.match(/settings\.mk:\d+: smtpd_server_hostnames: /);
      expect(bad([])).to.match(/smtpd_server_hostname is not set/);
    });
  });

  describe('hosts and plan', function () {
    it('lists the relays first, in order, then the clients; deploy server selects every relay', function () {
      const s = settings(TWO);
      expect(allHosts(s).map((h) => h.fqdn)).to.deep.equal(['relay1.example.org', 'relay2.example.org', 'mailhost.example.org']);
      expect(selectHosts(s, 'server').map((h) => h.fqdn)).to.deep.equal(['relay1.example.org', 'relay2.example.org']);
    });

    it('gives each relay its own key, certificate (SAN = its fqdn, serverAuth) and a bundle with the one allowlist', function () {
      const s = settings(TWO);
      const plan = buildPlan(s, readProjectState(s)); // a project with nothing built yet
      for (const fqdn of ['relay1.example.org', 'relay2.example.org']) {
        const config = plan.find((st) => st.id === `config:${fqdn}`);
        expect(config && config.kind === 'write' ? config.context : undefined).to.deep.include({ fqdn, extendedKeyUsage: 'serverAuth' });
        expect(plan.some((st) => st.id === `key:${fqdn}`) && plan.some((st) => st.id === `cert:${fqdn}`), fqdn).to.equal(true);
        const table = plan.find((st) => st.id === `bundle-allowlist:${fqdn}`);
        expect(table?.inputs).to.deep.equal(['etc/postfix/relay_clientcerts']);
        expect(table?.outputs).to.deep.equal([`out/${fqdn}/root/etc/postfix/relay_clientcerts`]);
      }
      expect(plan.filter((st) => st.id === 'allowlist')).to.have.length(1);
    });

    it('each relay service presents its own key and certificate; the rest is the same on every relay', function () {
      const s = settings(TWO);
      const [a, b] = s.servers.map((r) => relayConfig(s, r));
      expect(a!.tlsFiles.modern[0]!.value).to.include('relay1.example.org.key.pem').and.include('relay1.example.org.crt.pem');
      expect(b!.tlsFiles.modern[0]!.value).to.include('relay2.example.org.key.pem').and.include('relay2.example.org.crt.pem');
      expect(a!.overrides).to.deep.equal(b!.overrides);
      expect(a!.entry).to.equal(b!.entry);
    });
  });

  describe('relayhost', function () {
    it('Postfix ≥ 3.5: every relay in order, bracketed with the port; smtp_fallback_relay empty', function () {
      const s = settings([...TWO.slice(0, 1), 'smtpd_server_hostnames := relay2 relay3', 'smtpd_server_port := 2525']);
      expect(clientConfig(s, s.clients[0]!).relays.list).to.deep.equal({
        main: [{ name: 'relayhost', value: '[relay1.example.org]:2525, [relay2.example.org]:2525, [relay3.example.org]:2525' }],
        overrides: [{ name: 'smtp_fallback_relay', value: '' }],
      });
    });

    it('older Postfix: the first relay as relayhost, the others as smtp_fallback_relay on the relay service only', function () {
      const s = settings(['smtpd_server_hostname := relay1', 'smtpd_server_hostnames := relay2 relay3']);
      expect(clientConfig(s, s.clients[0]!).relays.fallback).to.deep.equal({
        main: [{ name: 'relayhost', value: '[relay1.example.org]:2500' }],
        overrides: [{ name: 'smtp_fallback_relay', value: '[relay2.example.org]:2500,[relay3.example.org]:2500' }],
      });
      expect(['3.4.14', '2.11.3', '3.5.0', '3.7.11', '4.0'].map(takesRelayList)).to.deep.equal([false, false, true, true, true]);
    });

    it('a relay taken out of the settings leaves both lists', function () {
      const s = settings(['smtpd_server_hostname := relay2']);
      const c = clientConfig(s, s.clients[0]!);
      expect([...c.relays.list.main, ...c.relays.list.overrides, ...c.relays.fallback.main, ...c.relays.fallback.overrides].map((p) => p.value).join(' ')).to.not.include('relay1');
      expect(c.relays.fallback.overrides).to.deep.equal([{ name: 'smtp_fallback_relay', value: '' }]);
    });

    it('apply.sh picks the list by mail_version and says when it falls back to smtp_fallback_relay', async function () {
      const s = settings(TWO);
      const text = await renderEjs('apply.sh.ejs', applyContext(s, s.clients[0]!));
      execFileSync('sh', ['-n'], { input: text });
      expect(text).to.include('[ "$minor" -ge 5 ]; }; then relay_list=yes; else relay_list=no; fi');
      const blocks = text.split('if [ "$relay_list" = yes ]').slice(1).map((b) => b.slice(0, b.indexOf('\nfi\n'))).join('\n');
      expect(blocks).to.include("'relayhost = [relay1.example.org]:2500, [relay2.example.org]:2500'");
      expect(blocks).to.include("'relayhost = [relay1.example.org]:2500'").and.include("'postfix-tls-relay/unix/smtp_fallback_relay=[relay2.example.org]:2500'");
      expect(blocks).to.include('set -- "$@" postfix-tls-relay/unix/smtp_fallback_relay=\n');
      expect(blocks).to.match(/note "Postfix \$mail_version is older than 3\.5: relayhost = \[relay1\.example\.org\]:2500, smtp_fallback_relay = \[relay2\.example\.org\]:2500 \(on postfix-tls-relay\/unix\)"/);
      // One relay: nothing to say, the fallback stays empty.
      const one = settings(['smtpd_server_hostname := relay1']);
      expect(await renderEjs('apply.sh.ejs', applyContext(one, one.clients[0]!))).to.not.include('older than 3.5');
    });
  });

  describe('fleet', function () {
    it('mapConcurrent runs at most `jobs` at once and keeps the order of the items', async function () {
      for (const jobs of [1, 3, 10]) {
        let running = 0;
        let most = 0;
        const out = await mapConcurrent([5, 1, 4, 2, 3, 0], jobs, async (ms, i) => {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, ms * 5));
          running--;
          return i;
        });
        expect(out).to.deep.equal([0, 1, 2, 3, 4, 5]);
        expect(most).to.equal(Math.min(jobs, 6));
      }
    });

    it('export ansible: relays then clients, ssh user/host/port, become only for a non-root user, the bundle files with modes', function () {
      const s = settings([...TWO, 'smtpd_server_ssh_host := 192.0.2.10', 'smtpd_server_ssh_port := 2222', 'smtp_client_ssh_user := admin', 'ssh_options := IdentityFile=/k/id']);
      const inv = inventory(s);
      expect(inv.indexOf('relays:')).to.be.lessThan(inv.indexOf('clients:'));
      expect(inv).to.include('"relay1.example.org":\n          ansible_host: "192.0.2.10"\n          ansible_port: 2222\n          ansible_user: "root"\n          ptr_postfix_dir');
      expect(inv).to.include('"mailhost.example.org":\n          ansible_host: "mailhost.example.org"\n          ansible_port: 22\n          ansible_user: "admin"\n          ansible_become: true');
      expect(inv).to.include('{ path: "/etc/postfix-tls-based-relaying/smtp-client/mailhost.example.org.key.pem", mode: "0600" }');
      expect(inv).to.include('{ path: "/etc/postfix/relay_clientcerts", mode: "0644" }');
      expect(inv).to.include('ansible_ssh_common_args: "-o IdentityFile=/k/id"');
      expect(inv).to.not.match(/-ca\.key\.pem|certs\/ca/);
      const pb = playbook();
      expect(pb.indexOf('hosts: relays')).to.be.lessThan(pb.indexOf('hosts: clients'));
      expect(pb).to.include('any_errors_fatal: true').and.include('serial: "{{ ptr_batch | default(20) }}"');
      expect(pb).to.include("changed_when: \"not (ptr_applied.stdout_lines | last | default('') is search(': unchanged$'))\"");
    });
  });
});
