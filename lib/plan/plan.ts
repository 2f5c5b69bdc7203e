// settings + project state → the ordered list of steps that builds the CA, every host's key and
// certificate, the relay's allowlist and each host's bundle. Pure: it reads nothing itself; what the
// project is now comes from the state owner.
import { allHosts, caFiles } from '../files/layout.js';
import type { Rotation } from '../ca/rotations.js';
import type { Settings } from '../settings/index.js';
import type { ProjectState } from '../state/project.js';
import { allowlistStep } from './allowlist.js';
import { bundleSteps } from './bundle.js';
import { adoptSteps, caSteps } from './ca.js';
import { hostSteps, revokedHosts } from './hosts.js';
import type { Step } from './step.js';

/** What a run is asked to do besides bringing files up to date. */
export interface PlanRequest {
  /** Re-sign these hosts' certificates now (renew), with their key unless listed in `rekey`. */
  renew?: ReadonlySet<string>;
  /** Hosts that get a new key now → where the old key is set aside first (undefined: there is none). */
  rekey?: ReadonlyMap<string, string | undefined>;
  /** Re-sign the CA certificate with its own key, with this new hex serial (renew --ca). */
  renewCaSerial?: string;
  /** Rotations as they will be (a dry run of renew shows them before they are saved); default: the state's. */
  rotations?: readonly Rotation[];
}

/**
 * The whole build, in a deterministic order: CA, adoption, relay, clients, allowlist, bundles. With
 * `hosts`, only those hosts' keys, certificates and bundles (the CA's steps and the allowlist always):
 * the part of the plan that can have changed when the rest is known up to date (plan/scope.ts).
 */
export function buildPlan(s: Settings, state: ProjectState, req: PlanRequest = {}, hosts?: ReadonlySet<string>): Step[] {
  const ca = caFiles(s);
  const frozen = revokedHosts(s, state, req.renew);
  const planned = hosts === undefined ? allHosts(s) : allHosts(s).filter((h) => hosts.has(h.fqdn));
  return [
    ...caSteps(s, ca, req),
    ...adoptSteps(s, state.unrecorded(), ca),
    ...planned.flatMap((h) => hostSteps(s, h, ca, { ...req, frozen })),
    allowlistStep(s, { rotations: req.rotations ?? state.rotations(), revoked: state.revoked(), frozen }),
    ...planned.flatMap((h) => bundleSteps(s, h)),
  ];
}
