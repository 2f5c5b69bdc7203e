// Which files of a host's bundle go to the host, and where they are in out/: the bundle manifest's.
import { bundleDir } from '../files/layout.js';
import { bundleManifest, bundleTargets } from '../plan/bundle.js';
import type { Host, Settings } from '../settings/index.js';

export function bundleRoot(host: Host): string {
  return `${bundleDir(host)}/root`;
}

/** Absolute paths on the host of every file in its bundle's root/ (what the build put there, nothing else). */
export function bundleFiles(s: Settings, host: Host): string[] {
  return bundleTargets(bundleManifest(s, host));
}
