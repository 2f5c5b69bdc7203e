// add-client on a project the last run left up to date asks only about the new client, the relays, the
// CA and the allowlist (plan/scope.ts). That holds only while no other step of the plan depends on the
// client list and none reads what those steps write: checked here on a project with two relays, a
// revoked client and a rotation in progress. And the runs themselves: what add-client leaves is what the
// long way leaves, a project that was not up to date is built whole, and a run that wrote files leaves
// a stamp that the next run trusts only while those files are as it left them.
import { expect } from 'chai';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { caFiles } from '../../lib/files/layout.js';
import { buildPlan } from '../../lib/plan/plan.js';
import { addedClientsScope } from '../../lib/plan/scope.js';
import type { Step } from '../../lib/plan/step.js';
import { loadSettings, type Settings } from '../../lib/settings/index.js';
import { readProjectState } from '../../lib/state/project.js';
import { settingsText, useProject } from '../support/project.js';

const QUICK = 'nothing changed since the last build found every step up to date';
const ASKED = 'asking only ';
const settle = () => new Promise((r) => setTimeout(r, 1100)); // past the one-second racy window

/** A step as data (its command's argv included; the allowlist's render-time function left out). */
const form = (step: Step) => JSON.stringify(step, (k, v: unknown) => (k === 'derive' || k === 'text' ? undefined : v));

describe('plan scope: add-client asks only about what can have changed', function () {
  this.timeout(120_000);

  describe('the plan of a project with two relays, a revoked client and a rotation', function () {
    const fx = useProject({
      each: false,
      settings: (pass) => settingsText(pass, 'smtpd_server_hostnames := relayhost relay2\nsmtp_client_hostnames := second third fourth'),
    });
    const load = (s: Settings, extra: string): Settings =>
      loadSettings({ projectDir: fx.p.dir, text: { content: `${readFileSync(fx.p.file('settings.mk'), 'utf8')}${extra}`, name: 'settings.mk' }, settingsFile: s.file });

    before(function () {
      for (const args of [['build', '-q'], ['revoke', 'third', '-q'], ['renew', 'fourth', '--rekey', '-q']]) {
        const r = fx.p.cli(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
      }
    });

    for (const variant of ['', 'fingerprint_kind := cert\nrelay_clientcerts_table_type := hash\n', 'smtp_client_host_lookup := native\nsmtp_client_ssh_host := 10.0.0.9\n']) {
      it(`keeps every step of the old hosts as it was${variant ? ` (${variant.trim().replace(/\n/g, ', ')})` : ''}`, function () {
        const base = loadSettings({ projectDir: fx.p.dir });
        const now = load(base, variant);
        const next = load(base, `${variant}smtp_client_hostnames += fifth\n`);
        const scope = addedClientsScope(now, next);
        expect(scope && [...scope].sort()).to.deep.equal(['fifth.example.test', 'relay2.example.test', 'relayhost.example.test']);
        const state = readProjectState(next);
        const before = new Map(buildPlan(now, state).map((st) => [st.id, form(st)]));
        const asked = buildPlan(next, state, {}, scope);
        const askedIds = new Set(asked.map((st) => st.id));
        const rest = buildPlan(next, state).filter((st) => !askedIds.has(st.id));
        expect(rest.length).to.be.greaterThan(20);
        for (const st of rest) expect(form(st), st.id).to.equal(before.get(st.id));
        // What can run: the asked steps that are new or changed, and those reading what they write. No
        // other step reads any of that, nor what openssl ca changes in the CA database.
        const affected = new Set<string>();
        for (const st of asked) {
          if (before.get(st.id) !== form(st) || st.inputs.some((i) => affected.has(i))) st.outputs.forEach((o) => affected.add(o));
        }
        expect(affected).to.include('etc/postfix/relay_clientcerts');
        const db = caFiles(next).dbDir;
        for (const st of rest) {
          for (const input of st.inputs) expect(affected.has(input) || input.startsWith(`${db}/`), `${st.id} reads ${input}`).to.equal(false);
        }
      });
    }

    it('is no scope when anything but added clients changed', function () {
      const now = loadSettings({ projectDir: fx.p.dir });
      expect(addedClientsScope(now, load(now, 'smtp_client_hostnames += fifth\nsmtpd_server_port := 2600\n'))).to.equal(undefined);
      expect(addedClientsScope(now, load(now, 'smtp_client_hostnames := second fourth fifth\n'))).to.equal(undefined); // one removed
      expect(addedClientsScope(now, load(now, 'smtp_client_hostnames := fifth second third fourth\n'))).to.equal(undefined); // in front
      expect(addedClientsScope(now, now)).to.equal(undefined);
    });
  });

  describe('the runs', function () {
    const fx = useProject();
    const ok = (...args: string[]) => {
      const r = fx.p.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
      return r;
    };
    /** What the long way would still do: the plan made and every step asked. */
    const wouldRun = () => {
      rmSync(fx.p.file('.postfix-tls-relay/up-to-date.json'), { force: true });
      const plan = JSON.parse(ok('plan', '--json').stdout) as { steps: { id: string; state: string }[] };
      return plan.steps.filter((s) => s.state === 'would-run').map((s) => s.id);
    };

    it('after an up-to-date build, add-client twice in a row leaves what the long way leaves, and a build with nothing to do', async function () {
      ok('build', '-q');
      await settle();
      ok('build', '-q');
      const added = ok('add-client', 'second', '--json', '-v');
      expect(added.stderr).to.include(`${ASKED}second.example.test, relayhost.example.test, the CA`);
      const first = JSON.parse(added.stdout) as { build: { steps: { id: string; state: string }[] } };
      // Listed in full, though only the new client's, the relay's, the CA's and the allowlist's steps were asked.
      const ran = first.build.steps.filter((s) => s.state !== 'skipped').map((s) => s.id);
      expect(ran).to.include.members(['key:second.example.test', 'cert:second.example.test', 'allowlist', 'bundle-allowlist:relayhost.example.test']);
      expect(ran.filter((id) => id.endsWith(':mailhost.example.test'))).to.deep.equal([]);
      expect(first.build.steps.some((s) => s.id === 'cert:mailhost.example.test')).to.equal(true);
      ok('add-client', 'third', '-q'); // at once: the first one's files are still "racy"
      expect(ok('build', '-v').stderr).to.include(QUICK);
      const list = readFileSync(fx.p.file('etc/postfix/relay_clientcerts'), 'utf8');
      expect(list).to.match(/ second\.example\.test$/m).and.to.match(/ third\.example\.test$/m);
      expect(wouldRun()).to.deep.equal([]);
    });

    it('builds the whole project when it was not up to date', async function () {
      ok('build', '-q');
      await settle();
      ok('build', '-q');
      rmSync(fx.p.file('out/mailhost.example.test/apply.sh'));
      const r = ok('add-client', 'second', '-v');
      expect(r.stderr).to.not.include(ASKED);
      expect(r.stderr).to.match(/wrote +apply script out\/mailhost\.example\.test\/apply\.sh/);
      expect(existsSync(fx.p.file('out/mailhost.example.test/apply.sh'))).to.equal(true);
      expect(wouldRun()).to.deep.equal([]);
    });

    it('trusts the stamp of a run that wrote files only while they are as it left them', function () {
      ok('build', '-q'); // writes everything, and leaves it up to date
      expect(ok('build', '-v').stderr).to.include(QUICK);
      ok('add-client', 'second', '-q');
      const apply = fx.p.file('out/second.example.test/apply.sh');
      const was = readFileSync(apply, 'utf8');
      writeFileSync(apply, was.replace('#!/bin/sh', '#!/bin/XX')); // same size, moments after the run wrote it
      const r = ok('build', '-v');
      expect(r.stderr).to.not.include(QUICK);
      expect(r.stderr).to.include('out/second.example.test/apply.sh was changed outside the tool');
      expect(readFileSync(apply, 'utf8')).to.equal(was);
    });
  });
});
