// `check`: what a host should have (lib/postfix/config.ts and the local bundle, the same data apply.sh is made
// from) against what it has (one read-only probe over ssh). Pure comparison; the ssh call is in commands/check.ts.
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import path from 'node:path';
import type { CheckResult } from './check-result.js';
import { LOOKUPS, liveProbeArgv, resolveArgv } from './live.js';
import { port25Argv } from './port25.js';
import { asRoot, type SudoMode } from './sudo.js';
import { remoteFiles } from '../files/layout.js';
import { bundleManifest, type BundleFileKind } from '../plan/bundle.js';
import { allowlistDiff } from '../postfix/allowlist.js';
import { clientConfig, postfixAtLeast, relayConfig, takesProtocolRange, takesRelayList, type ClientConfig, type Param, type ProtocolParams } from '../postfix/config.js';
import { parsePostconf, parseSha256sum, parseStat, ProbeScript, STAT_FORMAT, type Probe } from './probe.js';
import { isRelay, type Host, type Server, type Settings } from '../settings/index.js';

export type { CheckResult } from './check-result.js';

type FileKind = BundleFileKind;

interface ExpectedFile {
  kind: FileKind;
  /** Absolute path on the host. */
  path: string;
  /** The bundle's copy, relative to the project directory. */
  local: string;
  mode: string;
}

/** Every file of the host's bundle (the manifest) with the mode the build gave it. */
export function expectedFiles(s: Settings, host: Host): ExpectedFile[] {
  return bundleManifest(s, host).files.map((f) => ({ kind: f.kind, path: f.remote, local: f.local, mode: f.mode.toString(8).padStart(4, '0') }));
}

/** sha256 of a public key's DER (SubjectPublicKeyInfo), or undefined when it cannot be read. */
function spkiHash(key: () => KeyObject): string | undefined {
  try {
    return createHash('sha256').update(key().export({ type: 'spki', format: 'der' })).digest('hex');
  } catch {
    return undefined;
  }
}

/** Names of the main.cf parameters a client needs (the rest is in its relay service). */
function clientParams(s: Settings, host: Host): string[] {
  const c = clientConfig(s, host);
  return [...new Set([...c.relays.list.main, ...c.relays.fallback.main, ...c.main].map((p) => p.name))];
}

/** What `check` runs as root on a host: reading the deployed key's digest and public half, the live probe. */
export function checkRootJobs(s: Settings, host: Host, live: boolean): string[][] {
  const key = expectedFiles(s, host).find((f) => f.kind === 'key');
  return [
    ...(key ? [['sha256sum', '--', key.path], ['openssl', 'pkey', '-in', key.path, '-pubout']] : []),
    ...(live && host.role === 'client' ? s.servers.flatMap((r) => LOOKUPS.map((m) => liveProbeArgv(s, host, r, m))) : []),
  ];
}

/** The read-only remote command of `check` for one host. */
export function probeScript(s: Settings, host: Host, live = false, mode: SudoMode = 'nopasswd'): ProbeScript {
  const d = host.postfixDir;
  const root = (argv: string[]) => asRoot(host, argv, mode);
  const p = new ProbeScript().postconf('mail_version', d, ['-dh', 'mail_version']);
  if (host.role === 'client') {
    const c = clientConfig(s, host);
    p.postconf('main', d, clientParams(s, host));
    p.postconf('obsolete', d, ['-n', ...c.obsolete]);
    p.postconf('former', d, ['-n', ...new Set(c.former.map((x) => x.name))]);
    p.postconf('master', d, ['-M', c.service]);
    p.postconf('overrides', d, ['-P', c.service]);
    // The relay's name as this host's Postfix will look it up (smtp_host_lookup: dns, native or both).
    p.postconf('lookup', d, ['-h', 'smtp_host_lookup']);
    // Sections per relay, by its place in the list: resolve.0.dns, live.1.native …
    s.servers.forEach((relay, i) => { for (const m of LOOKUPS) p.add(`resolve.${i}.${m}`, resolveArgv(relay, m)); });
  } else if (isRelay(host)) {
    const r = relayConfig(s, host);
    p.postconf('master', d, ['-M', r.service]);
    p.postconf('overrides', d, ['-P', r.service]);
  }
  expectedFiles(s, host).forEach((f, i) => {
    p.add(`stat.${i}`, ['stat', '-c', STAT_FORMAT, '--', f.path]);
    p.add(`sha.${i}`, f.kind === 'key' ? root(['sha256sum', '--', f.path]) : ['sha256sum', '--', f.path]);
    if (f.kind === 'ca' || f.kind === 'cert' || f.kind === 'table') p.add(`cat.${i}`, ['cat', '--', f.path]);
    // Only the public half of the deployed key comes back, never the key itself.
    if (f.kind === 'key') p.add(`pub.${i}`, root(['openssl', 'pkey', '-in', f.path, '-pubout']));
    if (f.kind === 'table') {
      const t = relayConfig(s, host as Server).table;
      if (t.needsPostmap) p.add(`db.${i}`, ['stat', '-c', STAT_FORMAT, '--', `${f.path}${t.dbSuffix}`]);
    }
  });
  if (live && host.role === 'client') s.servers.forEach((relay, i) => { for (const m of LOOKUPS) p.add(`live.${i}.${m}`, root(liveProbeArgv(s, host, relay, m))); });
  // The seed's port-25 test, from every host (no root needed), and the relay's own outbound TLS.
  if (live) p.add('port25', port25Argv(s, host));
  if (live && isRelay(host)) p.postconf('smtp_tls', d, ['-h', 'smtp_tls_security_level']);
  return p;
}

/** Postfix 3.4 and later take key and certificate in *_tls_chain_files (apply.sh chooses the same way). */
export function usesChainFiles(mailVersion: string): boolean {
  return postfixAtLeast(mailVersion, 3, 4);
}

const show = (v: string) => (v === '' ? '(empty)' : v);
const short = (hex: string) => `sha256:${hex.slice(0, 16)}…`;
const firstLine = (text: string) => text.trim().split('\n')[0] ?? '';
const DAY = 86_400_000;

function compareParams(prefix: string, want: readonly Param[], have: Map<string, string>, key: (name: string) => string): CheckResult[] {
  return want.map((p) => {
    const actual = have.get(key(p.name));
    return { name: `${prefix} ${p.name}`, ok: actual === p.value, expected: show(p.value), actual: actual === undefined ? '(not set)' : show(actual) };
  });
}

function section(probe: Probe, name: string): { out: string; exit: number } {
  return probe.get(name) ?? { out: '(no output: the probe stopped early)', exit: -1 };
}

/** The master.cf entry of `service` and its -o overrides (sections master and overrides). */
function serviceChecks(probe: Probe, service: string, entry: string, want: readonly Param[]): CheckResult[] {
  const master = section(probe, 'master').out.trim();
  const fields = master.split(/\s+/);
  const oAt = fields.indexOf('-o');
  const have = (oAt < 0 ? fields : fields.slice(0, oAt)).join(' ');
  const overrides = parsePostconf(section(probe, 'overrides').out);
  return [
    { name: `master.cf ${service}`, ok: have === entry.split(/\s+/).join(' '), expected: entry, actual: master ? have : '(no such service)' },
    ...compareParams(`master.cf ${service} -o`, want, overrides, (n) => `${service}/${n}`),
  ];
}

/**
 * The relay's policy set globally in main.cf by versions up to 0.1 (it then applies to every destination and
 * shows the client certificate to any server): FAIL for each parameter still holding the tool's value.
 */
function formerLayout(c: ClientConfig, set: Map<string, string>): CheckResult[] {
  if (!c.formerMarkers.some((m) => set.get(m.name) === m.value)) return [];
  const names = [...new Set(c.former.filter((p) => set.get(p.name) === p.value).map((p) => p.name))];
  return names.map((name) => ({ name: `main.cf ${name} (global: the relay's policy belongs to ${c.service} only)`, ok: false, expected: '(the host\'s own value, or not set)', actual: `${show(set.get(name)!)}: set by an earlier version for every destination; deploy moves it into ${c.service}` }));
}

/** `local` reads a file of the project (the bundle's copies). */
export function evaluate(s: Settings, host: Host, probe: Probe, local: (rel: string) => Buffer, now = Date.now()): CheckResult[] {
  const out: CheckResult[] = [];
  const version = section(probe, 'mail_version');
  const mailVersion = version.exit === 0 ? version.out.trim() : '';
  out.push({ name: 'Postfix mail_version', ok: mailVersion !== '', expected: 'a Postfix version', actual: mailVersion || firstLine(version.out) || '(none)' });
  const chain = usesChainFiles(mailVersion || '3.4');
  // relay_tls_profile's protocols in the syntax this Postfix takes (apply.sh chose the same way).
  const protocols = (x: ProtocolParams) => (takesProtocolRange(mailVersion || '3.6') ? x.ranged : x.excluded);

  if (host.role === 'client') {
    const c = clientConfig(s, host);
    const main = parsePostconf(section(probe, 'main').out);
    const route = takesRelayList(mailVersion || '3.5') ? c.relays.list : c.relays.fallback;
    const params = compareParams('main.cf', [...route.main, ...c.main], main, (n) => n);
    const relayhost = params[0]!;
    if (!relayhost.ok && relayhost.actual !== '(empty)') relayhost.actual += ': the host\'s own relayhost; deploy replaces it (all outbound mail goes through the relays)';
    out.push(...params);
    const set = parsePostconf(section(probe, 'obsolete').out);
    for (const name of c.obsolete) {
      out.push({ name: `main.cf ${name} (obsolete)`, ok: !set.has(name), expected: '(not set)', actual: set.has(name) ? show(set.get(name)!) : '(not set)' });
    }
    out.push(...formerLayout(c, parsePostconf(section(probe, 'former').out)));
    out.push(...serviceChecks(probe, c.service, c.entry, [...c.overrides, ...route.overrides, ...(chain ? c.tlsFiles.modern : c.tlsFiles.legacy), ...protocols(c.protocols)]));
  } else if (isRelay(host)) {
    const r = relayConfig(s, host);
    out.push(...serviceChecks(probe, r.service, r.entry, [...r.overrides, ...(chain ? r.tlsFiles.modern : r.tlsFiles.legacy), ...protocols(r.protocols)]));
  }

  const files = expectedFiles(s, host);
  const certs = new Map<FileKind, X509Certificate>();
  files.forEach((f, i) => {
    const built = local(f.local);
    const stat = parseStat(section(probe, `stat.${i}`).out);
    const missing = stat === undefined ? `missing (${firstLine(section(probe, `stat.${i}`).out)})` : undefined;
    const want = createHash('sha256').update(built).digest('hex');
    const have = parseSha256sum(section(probe, `sha.${i}`).out);
    const content: CheckResult = { name: `file ${f.path}`, ok: have === want, expected: `${short(want)} (as ${f.local})`, actual: missing ?? (have ? short(have) : firstLine(section(probe, `sha.${i}`).out)) };
    if (f.kind === 'table' && !content.ok && missing === undefined) content.actual += allowlistDiff(built.toString('utf8'), section(probe, `cat.${i}`).out);
    out.push(content);
    out.push({ name: `mode ${f.path}`, ok: stat !== undefined && stat.mode === f.mode && stat.owner === '0:0', expected: `${f.mode} root (0:0)`, actual: stat ? `${stat.mode} ${stat.owner}` : 'missing' });

    if ((f.kind === 'ca' || f.kind === 'cert') && stat !== undefined) {
      let cert: X509Certificate | undefined;
      try {
        cert = new X509Certificate(section(probe, `cat.${i}`).out);
      } catch {
        cert = undefined;
      }
      if (cert) certs.set(f.kind, cert);
      const until = cert ? new Date(cert.validTo) : undefined;
      const from = cert ? new Date(cert.validFrom) : undefined;
      out.push({
        name: `expiry ${f.path}`,
        ok: until !== undefined && from !== undefined && from.getTime() <= now && now < until.getTime(),
        expected: 'valid now',
        actual: until && from
          ? now < from.getTime() ? `not valid before ${from.toISOString()}` : `${now < until.getTime() ? 'valid until' : 'EXPIRED on'} ${until.toISOString().slice(0, 10)} (${Math.floor((until.getTime() - now) / DAY)} days left)`
          : 'not a certificate',
      });
    }
    if (f.kind === 'key' && stat !== undefined) {
      const pub = section(probe, `pub.${i}`);
      const keyHash = spkiHash(() => createPublicKey(pub.out));
      const certAt = files.findIndex((x) => x.kind === 'cert');
      const certHash = spkiHash(() => new X509Certificate(section(probe, `cat.${certAt}`).out).publicKey);
      out.push({
        name: `key ${f.path} matches the certificate`,
        ok: keyHash !== undefined && keyHash === certHash,
        expected: certHash ? `public key ${short(certHash)}` : 'a readable certificate',
        actual: keyHash ? `public key ${short(keyHash)}` : `unreadable key: ${firstLine(pub.out) || `openssl exit ${pub.exit}`}`,
      });
    }
    if (f.kind === 'table' && probe.has(`db.${i}`)) {
      const db = parseStat(section(probe, `db.${i}`).out);
      const t = relayConfig(s, host as Server).table;
      out.push({
        name: `table ${f.path}${t.dbSuffix} newer than ${path.posix.basename(f.path)}`,
        ok: db !== undefined && stat !== undefined && db.mtime >= stat.mtime,
        expected: 'postmap run after the last change',
        actual: db === undefined ? 'missing' : stat === undefined ? 'source missing' : db.mtime >= stat.mtime ? 'newer' : `older by ${stat.mtime - db.mtime} s`,
      });
    }
  });
  const ca = certs.get('ca');
  const leaf = certs.get('cert');
  if (ca && leaf) {
    const issued = leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
    out.push({ name: `certificate ${remoteFiles(s, host).cert} signed by the CA`, ok: issued, expected: ca.subject.replace(/\n/g, ', '), actual: issued ? ca.subject.replace(/\n/g, ', ') : `issuer ${leaf.issuer.replace(/\n/g, ', ')}, signature not by the deployed CA` });
  }
  return out;
}
