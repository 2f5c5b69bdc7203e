// Which files of a host's bundle go to the host, and where they are in out/.
import { bundleDir } from '../files/layout.js';
import { bundleSteps } from '../plan/plan.js';
import type { Host, Settings } from '../settings/index.js';

export function bundleRoot(host: Host): string {
  return `${bundleDir(host)}/root`;
}

/** Absolute paths on the host of every file in its bundle's root/ (what the build put there, nothing else). */
export function bundleFiles(s: Settings, host: Host): string[] {
  const prefix = bundleRoot(host);
  return bundleSteps(s, host)
    .flatMap((st) => st.outputs)
    .filter((o) => o.startsWith(`${prefix}/`))
    .map((o) => o.slice(prefix.length));
}
