// `check --live`, what is on the wire: the certificate the relay presents (posttls-finger -C prints
// it) against the project's current relay certificate, and the client certificate the probe presented
// (the client's deployed file) against the allowlist the relay is given. A renewed file that Postfix
// has not reloaded is still the old certificate on the wire: a FAIL naming the reload.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fingerprint } from '../ca/fingerprint.js';
import { hostFiles } from '../files/layout.js';
import type { Host, Server, Settings } from '../settings/index.js';
import { readProjectState } from '../state/project.js';
import { expectedFiles, type CheckResult } from './compare.js';
import type { Probe, Section } from './probe.js';

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const short = (x: string) => `${x.slice(0, 8)}…`;

function parse(pem: string | Buffer): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function describe(c: X509Certificate): string {
  return `serial ${short(c.serialNumber.toUpperCase())} (sha256 ${c.fingerprint256.slice(0, 23)}…), valid until ${new Date(c.validTo).toISOString().slice(0, 10)}`;
}

/** The leaf the relay presented, from posttls-finger -C output; undefined when the handshake showed none. */
export function servedCertificate(section: Section | undefined): X509Certificate | undefined {
  const first = section?.out.match(PEM)?.[0];
  return first ? parse(first) : undefined;
}

/**
 * The certificate `relay` served against the project's for it. `relayFile`: whether this run found the current
 * certificate file on the relay (undefined: the relay was not checked), which tells a missing deploy
 * from a missing reload.
 */
export function servedCheck(s: Settings, relay: Server, section: Section | undefined, relayFile: boolean | undefined, reload: string): CheckResult | undefined {
  const served = servedCertificate(section);
  if (!served) return undefined; // no handshake: the STARTTLS check says why
  const name = `live certificate served on [${relay.fqdn}]:${relay.port}`;
  const want = parse(readFileSync(path.join(s.projectDir, hostFiles(relay).cert)));
  if (!want) return { name, ok: false, expected: 'the project\'s relay certificate', actual: `${hostFiles(relay).cert} cannot be read; run postfix-tls-relay build` };
  const expected = `the project's current relay certificate, ${describe(want)}`;
  if (served.fingerprint256 === want.fingerprint256) return { name, ok: true, expected, actual: describe(served) };
  const why = relayFile === true
    ? `the file on ${relay.fqdn} is the new one but Postfix still serves the old one; reload it: ${reload}`
    : relayFile === false
      ? `${relay.fqdn} does not have the current certificate; deploy it: postfix-tls-relay deploy server`
      : `deploy the relay (postfix-tls-relay deploy server), or if its files are current, reload Postfix: ${reload}`;
  return { name, ok: false, expected, actual: `${describe(served)}: ${why}` };
}

/** The client certificate the probe presented (the deployed file): does the relay's allowlist as built list it? */
export function presentedCheck(s: Settings, host: Host, probe: Probe): CheckResult | undefined {
  const at = expectedFiles(s, host).findIndex((f) => f.kind === 'cert');
  const cert = parse(probe.get(`cat.${at}`)?.out ?? '');
  if (!cert) return undefined; // the file checks report a missing or unreadable certificate
  const fp = fingerprint(cert.raw, s.fingerprintDigest, s.fingerprintKind);
  const listed = (readProjectState(s).allowlist() ?? []).some((e) => e.fingerprint === fp.toUpperCase());
  const current = parse(readFileSync(path.join(s.projectDir, hostFiles(host).cert)));
  const isCurrent = current !== undefined && current.fingerprint256 === cert.fingerprint256;
  return {
    name: `live client certificate presented by ${host.fqdn}`,
    ok: listed && isCurrent,
    expected: `the current certificate, its ${s.fingerprintKind}:${s.fingerprintDigest} fingerprint on the relay's allowlist`,
    actual: `${describe(cert)}, fingerprint ${fp.slice(0, 23)}… ${listed ? 'listed' : 'NOT listed: the relay refuses it (deploy the relay: postfix-tls-relay deploy server)'}${isCurrent ? '' : '; not the project\'s current certificate (deploy the client)'}`,
  };
}
