// The declared shapes of the tool's records (lib/files/state-files.ts): what they accept, and the one
// line they make of what is wrong. The files themselves, end to end: test/hardening/state-files.test.ts.
import { expect } from 'chai';
import { DEPLOYMENTS, LOCK, readStateFile, ROTATIONS, TREE, UP_TO_DATE, onStateFileNote } from '../../lib/files/state-files.js';
import { UsageError } from '../../lib/errors.js';

const at = '2026-12-06T00:00:00.000Z';

describe('state files: declared shapes', () => {
  it('accepts what the tool writes, the records of deploy, check and undeploy included', () => {
    const host = (source: string) => ({ role: 'client', source, time: at, ok: source !== 'undeploy', bundle: source === 'undeploy' ? null : 'ab' });
    const hosts = { 'a.example.org': host('deploy'), 'b.example.org': host('check'), 'c.example.org': host('undeploy') };
    expect(readStateFile(DEPLOYMENTS, JSON.stringify({ version: 1, hosts }))).to.deep.equal({ version: 1, hosts });
    expect(readStateFile(ROTATIONS, '{"rotations":[]}')).to.deep.equal({ rotations: [] });
    expect(readStateFile(UP_TO_DATE, JSON.stringify({ plan: 'p', tree: 't', records: 'r', fresh: { 'out/x': null, 'out/y': '1:2:3:4' } }))).to.have.property('plan', 'p');
    expect(readStateFile(TREE, JSON.stringify({ dirs: { certs: [1, 2.5, 3.5, 'ca/smtp-client'] } }))).to.have.property('dirs');
    expect(readStateFile(LOCK, '4242\n')).to.equal(4242);
  });

  it('a trust record of the wrong shape: one line naming the file, the place, what is wrong and what to do (exit 2)', () => {
    const wrong = (text: string) => {
      try {
        readStateFile(ROTATIONS, text);
      } catch (e) {
        expect(e).to.be.instanceOf(UsageError);
        return (e as UsageError).message;
      }
      throw new Error('accepted');
    };
    const fix = 'restore it from your backup (or, if no client is between two keys, delete it: the relay then lists only current certificates)';
    expect(wrong('{"rotations":{}}')).to.equal(`.postfix-tls-relay/rotations.json: rotations: expected an array, found an object; ${fix}`);
    expect(wrong('{"rotation":[]}')).to.equal(`.postfix-tls-relay/rotations.json: "rotations" is missing; ${fix}`);
    expect(wrong('[1,2]')).to.equal(`.postfix-tls-relay/rotations.json: expected an object, found an array; ${fix}`);
    expect(wrong('{"rotations":[null]}')).to.equal(`.postfix-tls-relay/rotations.json: rotations[0]: expected an object, found null; ${fix}`);
    expect(wrong(JSON.stringify({ rotations: [{ fqdn: 'm.example.org', reason: 'rekey', started: at, previous: 'x' }] }))).to.equal(`.postfix-tls-relay/rotations.json: rotations[0].previous: expected an array, found a string; ${fix}`);
    expect(wrong(JSON.stringify({ rotations: [{ fqdn: 'm.example.org', reason: 'rekey', started: at, previous: [{ serial: '01', notAfter: at, pem: 'nope' }] }] }))).to.equal(`.postfix-tls-relay/rotations.json: rotations[0].previous[0].pem: expected a PEM certificate; ${fix}`);
    expect(wrong('')).to.equal(`.postfix-tls-relay/rotations.json: empty; ${fix}`);
    expect(wrong('{"rot')).to.equal(`.postfix-tls-relay/rotations.json: not valid JSON; ${fix}`);
  });

  it('a cache of the wrong shape is dropped with a note', () => {
    const notes: string[] = [];
    onStateFileNote((l) => notes.push(l));
    try {
      expect(readStateFile(UP_TO_DATE, 'null')).to.equal(undefined);
      expect(readStateFile(TREE, JSON.stringify({ dirs: { certs: [1, 2, 3] } }))).to.equal(undefined);
      expect(readStateFile(LOCK, '12ab\n')).to.equal(undefined);
    } finally {
      onStateFileNote(() => {});
    }
    expect(notes).to.deep.equal([
      '.postfix-tls-relay/up-to-date.json: expected an object, found null; dropped (a cache: this run rebuilds it)',
      '.postfix-tls-relay/tree.json: dirs.certs: expected an array of 4, found an array; dropped (a cache: this run rebuilds it)',
      '.postfix-tls-relay/lock: expected a number, found a string; dropped (a cache: this run rebuilds it)',
    ]);
  });
});
