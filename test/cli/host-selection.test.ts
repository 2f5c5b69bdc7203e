// `check` takes the same host selection as `deploy`: [client|server|all] then host names (fqdn or
// short), the others left alone; a name outside the selection is a usage error naming the hosts.
import { expect } from 'chai';
import { useProject, settingsText } from '../support/project.js';

const SETTINGS = (pass: string) => settingsText(pass, ['smtp_client_hostnames := c11 c13', 'smtpd_server_hostnames := relay2'].join('\n'));

describe('host selection: check takes it as deploy does', function () {
  this.timeout(60_000);
  const fx = useProject({ settings: SETTINGS, each: false });
  before(function () {
    const r = fx.p.cli(['build', '-q']);
    expect(r.code, r.stderr).to.equal(0);
  });

  const dry = (cmd: string, args: string[]) => {
    const r = fx.p.cli([cmd, ...args, '-n', '--json']);
    expect(r.code, `${cmd} ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return (JSON.parse(r.stdout) as { hosts: { fqdn: string }[] }).hosts.map((h) => h.fqdn);
  };

  for (const cmd of ['deploy', 'check']) {
    it(`${cmd} client c13 (a host name) and ${cmd} client c11.example.test (an fqdn): only that client`, () => {
      expect(dry(cmd, ['client', 'c13'])).to.deep.equal(['c13.example.test']);
      expect(dry(cmd, ['client', 'c11.example.test'])).to.deep.equal(['c11.example.test']);
      expect(dry(cmd, ['all', 'relay2', 'c11'])).to.deep.equal(['relay2.example.test', 'c11.example.test']);
      expect(dry(cmd, ['client'])).to.deep.equal(['mailhost.example.test', 'c11.example.test', 'c13.example.test']);
    });

    it(`${cmd} server c13: exit 2, one line naming the selection`, () => {
      const r = fx.p.cli([cmd, 'server', 'c13', '-n']);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim()).to.equal(`postfix-tls-relay: ${cmd}: c13 is not one of the selected hosts (relayhost.example.test, relay2.example.test); check smtpd_server_hostnames and smtp_client_hostnames in settings.mk`);
    });
  }

  it('check client c13 --live: the probe of c13 only, which still probes every relay', () => {
    const r = fx.p.cli(['check', 'client', 'c13', '--live', '-n', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const hosts = (JSON.parse(r.stdout) as { hosts: { fqdn: string; command: string }[] }).hosts;
    expect(hosts.map((h) => h.fqdn)).to.deep.equal(['c13.example.test']);
    expect(hosts[0]!.command).to.include('relayhost.example.test').and.include('relay2.example.test');
  });
});
