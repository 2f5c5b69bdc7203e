// The last word on the relay's allowlist, asked with the rendered text just before it is written (so no
// plan, template context or later change of either can get around it): no fingerprint listed twice, and
// no key whose certificate was revoked. With fingerprint_kind = cert the listed certificates' keys are
// compared too (two certificates of one key have different fingerprints).
import { ALLOWLIST, hostFiles } from '../files/layout.js';
import { parseAllowlist } from '../postfix/allowlist.js';
import type { Settings } from '../settings/index.js';
import { revokedListFingerprints } from './key-binding.js';
import type { RevokedKey } from './key-identities.js';

const NOTHING = 'nothing is written; postfix-tls-relay status --check names the key to replace';

/**
 * What is wrong with `text` as an allowlist, one line; undefined when nothing is. `certKey(rel)`: the
 * public-key fingerprint (keyFingerprint) of a certificate of the project, for fingerprint_kind = cert.
 * `built`: the allowlist on disk (status --check) rather than one about to be written.
 */
export function allowlistProblem(text: string, s: Settings, revoked: readonly RevokedKey[], certKey: (rel: string) => string | undefined, built = false): string | undefined {
  const entries = parseAllowlist(text);
  // The allowlist as it is on disk (status --check), or as a run is about to write it.
  const would = built ? 'is' : 'would be';
  const fix = built ? 'run postfix-tls-relay build (it names the key to replace), then deploy the relays' : NOTHING;
  const seen = new Map<string, string>();
  for (const e of entries) {
    const first = seen.get(e.fingerprint);
    if (first !== undefined) return `${ALLOWLIST}: ${e.fingerprint} ${would} listed twice (${first} and ${e.fqdn}), and revoking one host would not stop that key; ${fix}`;
    seen.set(e.fingerprint, e.fqdn);
  }
  const byListed = revokedListFingerprints(revoked, s.fingerprintDigest);
  const byKey = new Map(revoked.map((r) => [r.fp, r]));
  const keys = new Map<string, string>();
  for (const e of entries) {
    let gone = s.fingerprintKind === 'pubkey' ? byListed.get(e.fingerprint) : undefined;
    if (!gone && s.fingerprintKind === 'cert') {
      const client = s.clients.find((c) => c.fqdn === e.fqdn);
      const key = client && certKey(hostFiles(client).cert);
      if (key !== undefined) {
        gone = byKey.get(key);
        const other = keys.get(key);
        if (other !== undefined && other !== e.fqdn) return `${ALLOWLIST}: ${other} and ${e.fqdn} ${would} listed with certificates of one key; ${fix}`;
        keys.set(key, e.fqdn);
      }
    }
    if (gone) return `${ALLOWLIST}: ${e.fqdn} ${would} listed with the key of ${gone.fqdn}, whose certificate (serial ${gone.serial}) was revoked; ${fix}`;
  }
  return undefined;
}
