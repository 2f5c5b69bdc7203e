// Which part of the plan can have changed when the settings only gained clients. A client's steps
// (its config, key, request, certificate and bundle) and the CA's are made from the settings that are not
// the client list and from the host itself; the client list reaches only the allowlist and, through it,
// each relay's bundle. So when the last run left every step up to date and the settings now are those
// settings with clients added, only the new clients, the relays, the CA and the allowlist need asking
// (test/integration/plan-scope.test.ts holds the plan to this).
import type { Settings } from '../settings/index.js';

/** The hosts to plan and ask about when `after` is `before` with clients added; undefined when anything else differs. */
export function addedClientsScope(before: Settings, after: Settings): ReadonlySet<string> | undefined {
  const { clients: was, warnings: _w, ...rest } = before;
  const { clients: now, warnings: _v, ...restNow } = after;
  if (now.length <= was.length || JSON.stringify(rest) !== JSON.stringify(restNow)) return undefined;
  for (let i = 0; i < was.length; i++) if (JSON.stringify(was[i]) !== JSON.stringify(now[i])) return undefined;
  return new Set([...now.slice(was.length).map((c) => c.fqdn), ...after.servers.map((r) => r.fqdn)]);
}
