// What apply.sh chooses on a host by the Postfix version it reports (`postconf -dh mail_version`), as
// lines for `deploy -n`: the releases differ there and nowhere else (the TLS floor is an exclusion list
// that Postfix 3.x with OpenSSL 1.1.1 to 3.5 reads alike, so nothing depends on the host's OpenSSL).
import { clientConfig, relayConfig, type Param, type RelayRoute, type TlsFileParams } from './config.js';
import { isRelay, type Host, type Settings } from '../settings/index.js';

const shown = (ps: readonly Param[]) => ps.filter((p) => p.value !== '').map((p) => `${p.name} = ${p.value}`).join('; ');

function tlsFiles(t: TlsFileParams): string {
  return `Postfix 3.4 or later: ${shown(t.modern)}; older: ${shown(t.legacy)}`;
}

/** The version-dependent choices of `host`'s apply.sh, one line each (main.cf, then -o of the client's relay service). */
export function versionChoices(s: Settings, host: Host): string[] {
  if (isRelay(host)) return [tlsFiles(relayConfig(s, host).tlsFiles)];
  const c = clientConfig(s, host);
  const route = (r: RelayRoute) => shown([...r.main, ...r.overrides]);
  const relays = c.relays.fallback.overrides.every((x) => x.value === '')
    ? `every Postfix: ${route(c.relays.list)}`
    : `Postfix 3.5 or later: ${route(c.relays.list)}; older: ${route(c.relays.fallback)}`;
  return [relays, tlsFiles(c.tlsFiles)];
}
