// The bundle manifest: the one place that says what a host's bundle (out/<fqdn>/) holds — each file's
// source in the project, its copy under root/, its target path and mode on the host. The bundle steps,
// deploy (what rsync sends, what must be byte-for-byte as built), check (what the host must have) and
// instructions all read it from here.
import path from 'node:path';
import { ALLOWLIST, bundleDir, caFiles, hostFiles, inBundle, remoteFiles } from '../files/layout.js';
import { clientConfig, relayConfig } from '../postfix/config.js';
import { isRelay, type Host, type Settings } from '../settings/index.js';
import { copy } from './make.js';
import type { Step, WriteStep } from './step.js';

export const TOOL_VERSION = '0.1.0';

export type BundleFileKind = 'ca' | 'cert' | 'key' | 'table' | 'script';

export interface BundleFile {
  readonly kind: BundleFileKind;
  /** Absolute path on the host. */
  readonly remote: string;
  /** The bundle's copy, relative to the project directory (out/<fqdn>/root/<remote>). */
  readonly local: string;
  /** What it is copied from, relative to the project directory. */
  readonly source: string;
  readonly mode: number;
}

export interface BundleManifest {
  readonly host: Host;
  /** out/<fqdn> */
  readonly dir: string;
  /** out/<fqdn>/root: mirrors the host's file system. */
  readonly root: string;
  /** The apply script as rendered, before it is copied into root/. */
  readonly applyScript: string;
  readonly files: readonly BundleFile[];
}

export function bundleManifest(s: Settings, host: Host): BundleManifest {
  const f = hostFiles(host);
  const r = remoteFiles(s, host);
  const dir = bundleDir(host);
  const applyScript = `${dir}/apply.sh`;
  const file = (kind: BundleFileKind, remote: string, source: string, mode: number): BundleFile => ({ kind, remote, local: inBundle(host, remote), source, mode });
  const files = [
    file('ca', r.caCert, caFiles(s).cert, 0o644),
    file('cert', r.cert, f.cert, 0o644),
    file('key', r.key, f.key, 0o600),
    ...(isRelay(host) ? [file('table', host.relayClientcertsPath, ALLOWLIST, 0o644)] : []),
    file('script', r.applyScript, applyScript, 0o755),
  ];
  return { host, dir, root: `${dir}/root`, applyScript, files };
}

/** Target paths on the host of every file in the bundle, as rsync lists them (relative to root/). */
export function bundleTargets(m: BundleManifest): string[] {
  return m.files.map((f) => f.remote);
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');

/** What apply.sh.ejs needs: the directories and files to install and the Postfix settings. */
export function applyContext(s: Settings, host: Host, m: BundleManifest = bundleManifest(s, host)): Record<string, unknown> {
  const r = remoteFiles(s, host);
  const dirs = [s.certsRemoteDir, path.posix.dirname(r.caCert), path.posix.dirname(r.key)];
  const files = m.files.filter((f) => f.kind !== 'script').map((f) => ({ path: f.remote, mode: octal(f.mode) }));
  const base = { version: TOOL_VERSION, fqdn: host.fqdn, role: host.role, postfixDir: host.postfixDir, dirs: [...new Set(dirs)], applyScript: r.applyScript, record: r.undoRecord, removable: undeployFiles(s, host, m), profile: s.relayTlsProfile };
  if (isRelay(host)) return { ...base, files, relay: relayConfig(s, host), client: null };
  return { ...base, files, relay: null, client: clientConfig(s, host) };
}

/**
 * What `apply.sh --undeploy` removes: every file of the bundle (the script last) and the table postmap made.
 * The CA certificate stays while the host's other role (a relay that is also a client) still has its script.
 */
export function undeployFiles(s: Settings, host: Host, m: BundleManifest = bundleManifest(s, host)): { path: string; shared: string | null }[] {
  const other = remoteFiles(s, { ...host, role: host.role === 'client' ? 'server' : 'client' } as Host).applyScript;
  const table = isRelay(host) ? relayConfig(s, host).table : null;
  const db = table?.needsPostmap ? [{ path: `${table.path}${table.dbSuffix}`, shared: null }] : [];
  const files = m.files.map((f) => ({ path: f.remote, shared: f.kind === 'ca' ? other : null }));
  return [...files.slice(0, -1), ...db, files.at(-1)!];
}

export function bundleSteps(s: Settings, host: Host): Step[] {
  const m = bundleManifest(s, host);
  const apply: WriteStep = {
    kind: 'write', id: `apply:${host.fqdn}`, title: `apply script ${m.applyScript}`, inputs: [], outputs: [m.applyScript], output: m.applyScript,
    mode: 0o755, template: { engine: 'ejs', name: 'apply.sh.ejs' }, context: applyContext(s, host, m), createOnly: false,
  };
  const id: Record<BundleFileKind, string> = { ca: 'bundle-ca', cert: 'bundle-cert', key: 'bundle-key', table: 'bundle-allowlist', script: 'bundle-apply' };
  const copies = m.files.map((f) => copy(`${id[f.kind]}:${host.fqdn}`, f.source, f.local, f.mode));
  // Same order as before: the copies, then the script rendered and copied.
  return [...copies.slice(0, -1), apply, copies.at(-1)!];
}
