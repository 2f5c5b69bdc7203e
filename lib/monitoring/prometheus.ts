// `status --format prometheus`: the project's certificate facts as metrics for the node_exporter
// textfile collector. x509_cert_* carry the names and labels of enix/x509-certificate-exporter, so
// its dashboards and alerts work unchanged; postfix_tls_relay_* add what only this tool knows
// (listed, revoked, rotations, CRL, deployed). Times are seconds since the epoch, flags 0/1.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { allHosts } from '../files/layout.js';
import { isCurrent, type Deployments } from '../remote/deployments.js';
import type { Settings } from '../settings/index.js';
import type { Status } from '../services/status.js';
import { KEY_PROBLEM_KINDS } from '../state/key-binding.js';
import { exposition, gauge, type Sample } from './exposition.js';

export interface MetricsInput {
  settings: Settings;
  status: Status;
  deployments: Deployments;
  version: string;
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);
const flag = (b: boolean) => (b ? 1 : 0);

/** CN=… of node's "C=NL\nO=…\nCN=…" form; "" when there is none. */
function commonName(dn: string): string {
  return dn.split('\n').find((l) => l.startsWith('CN='))?.slice(3) ?? '';
}

interface CertFile {
  file: string;
  cert: X509Certificate;
}

function readCerts(s: Settings, st: Status): CertFile[] {
  const files = [st.ca.cert, ...st.hosts.map((h) => h.cert)];
  return files.flatMap((rel) => {
    const file = path.join(s.projectDir, rel);
    try {
      return [{ file, cert: new X509Certificate(readFileSync(file)) }];
    } catch {
      return []; // missing: postfix_tls_relay_cert_present says so
    }
  });
}

/** The labels x509-certificate-exporter gives a certificate file (serial in decimal, as it prints it). */
function x509Labels(c: CertFile): Record<string, string> {
  return {
    filepath: c.file,
    subject_CN: commonName(c.cert.subject),
    issuer_CN: commonName(c.cert.issuer),
    serial_number: BigInt(`0x${c.cert.serialNumber}`).toString(10),
  };
}

export function prometheusMetrics(input: MetricsInput): string {
  const { settings: s, status: st, deployments } = input;
  const certs = readCerts(s, st);
  const ca = { host: s.caCommonName, role: 'ca' };
  const all = [
    { labels: ca, exists: st.ca.exists, notAfter: st.ca.notAfter, revoked: false },
    ...st.hosts.map((h) => ({ labels: { host: h.fqdn, role: h.role }, exists: h.exists, notAfter: h.notAfter, revoked: h.revoked })),
  ];
  const clients = st.hosts.filter((h) => h.role === 'client');
  const withDate = (pick: (c: typeof all[number]) => string | null): Sample[] =>
    all.flatMap((c) => (pick(c) ? [{ labels: c.labels, value: seconds(pick(c)!) }] : []));
  const hosts = allHosts(s);
  return exposition([
    gauge('x509_cert_not_after', 'The date after which the certificate expires, in seconds since the epoch.',
      certs.map((c) => ({ labels: x509Labels(c), value: seconds(new Date(c.cert.validTo).toISOString()) }))),
    gauge('x509_cert_not_before', 'The date before which the certificate is not valid, in seconds since the epoch.',
      certs.map((c) => ({ labels: x509Labels(c), value: seconds(new Date(c.cert.validFrom).toISOString()) }))),
    gauge('postfix_tls_relay_cert_present', 'Whether the certificate of this host (or the CA) exists in the project (1) or is missing (0).',
      all.map((c) => ({ labels: c.labels, value: flag(c.exists) }))),
    gauge('postfix_tls_relay_cert_expiry_timestamp_seconds', 'When the certificate of this host (or the CA) expires, in seconds since the epoch.',
      withDate((c) => c.notAfter)),
    gauge('postfix_tls_relay_cert_revoked', 'Whether the certificate is revoked in the CA database (1) or not (0).',
      all.filter((c) => c.exists && c.labels.role !== 'ca').map((c) => ({ labels: c.labels, value: flag(c.revoked) }))),
    gauge('postfix_tls_relay_cert_listed', 'Whether the relay\'s allowlist (relay_clientcerts) as built lists the client\'s current certificate (1) or not (0).',
      clients.map((h) => ({ labels: { host: h.fqdn, role: h.role }, value: flag(h.listed) }))),
    gauge('postfix_tls_relay_rotation_in_progress', 'Whether a key or certificate rotation of the client is in progress: the relay also lists its previous entry (1) or not (0).',
      clients.map((h) => ({ labels: { host: h.fqdn }, value: flag(h.rotation !== null) }))),
    gauge('postfix_tls_relay_rotation_start_timestamp_seconds', 'When the rotation in progress began (renew --rekey or a changed certificate fingerprint), in seconds since the epoch.',
      st.rotations.map((r) => ({ labels: { host: r.fqdn, reason: r.reason }, value: seconds(r.started) }))),
    gauge('postfix_tls_relay_crl_present', 'Whether the CA has a CRL (1) or none yet (0).', [{ labels: {}, value: flag(st.crl.exists) }]),
    gauge('postfix_tls_relay_crl_signed', 'Whether the CRL is signed by the project\'s CA key (1) or not (0: from another CA, run postfix-tls-relay crl); absent without a CRL.',
      st.crl.signedByCa === null ? [] : [{ labels: {}, value: flag(st.crl.signedByCa) }]),
    gauge('postfix_tls_relay_crl_next_update_timestamp_seconds', 'The CRL\'s nextUpdate: after it, the CRL has expired (regenerate it with postfix-tls-relay crl). Seconds since the epoch.',
      st.crl.nextUpdate ? [{ labels: {}, value: seconds(st.crl.nextUpdate) }] : []),
    gauge('postfix_tls_relay_bundle_current', 'Whether the host had its bundle as built now at the last deploy or check (1), or not, or was never deployed or checked (0).',
      hosts.map((h) => ({ labels: { host: h.fqdn, role: h.role }, value: flag(isCurrent(s, h, deployments[h.fqdn])) }))),
    gauge('postfix_tls_relay_bundle_last_seen_timestamp_seconds', 'When the last deploy or check (label source) looked at the host, in seconds since the epoch.',
      hosts.flatMap((h) => {
        const r = deployments[h.fqdn];
        return r ? [{ labels: { host: h.fqdn, role: h.role, source: r.source }, value: seconds(r.time) }] : [];
      })),
    gauge('postfix_tls_relay_allowlist_current', 'Whether the relay got the allowlist as built now on its last deploy (1), or an older one or was never deployed by this tool (0).',
      st.relays.map((r) => ({ labels: { host: r.fqdn, role: 'server' }, value: flag(r.allowlist === 'current') }))),
    gauge('postfix_tls_relay_problems', 'Number of problems status --check reports (with its default thresholds unless given).', [{ labels: {}, value: st.problems.length }]),
    gauge('postfix_tls_relay_key_problems', 'Keys status --check fails on, per kind: shared (another host\'s key), changed (not the key recorded for the host), revoked (a revoked certificate\'s key).',
      KEY_PROBLEM_KINDS.map((kind) => ({ labels: { kind }, value: st.keyProblems.filter((p) => p.kind === kind).length }))),
    gauge('postfix_tls_relay_info', 'The postfix-tls-relay version and the project it reports on.',
      [{ labels: { version: input.version, domain: s.domain, relay: s.server.fqdn }, value: 1 }]),
  ]);
}
