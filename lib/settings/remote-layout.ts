// Where a bundle's files go on a host: derived from the settings alone (certs_remote_dir, domain, role,
// fqdn), so the settings can check these paths when they are read (remote-paths.ts).
import type { Host, Role, Settings, TableType } from './types.js';

export const ROLE_DIR: Record<Role, string> = { client: 'smtp-client', server: 'smtpd-server' };

/** The file postmap makes next to the allowlist, by table type (texthash: none). */
export const TABLE_SUFFIX: Record<TableType, string> = { texthash: '', hash: '.db', lmdb: '.lmdb', cdb: '.cdb' };

export interface RemoteFiles {
  readonly caCert: string;
  readonly key: string;
  readonly cert: string;
  readonly applyScript: string;
  /** What the host had before the tool first changed it (apply.sh writes it, `apply.sh --undeploy` reads it). */
  readonly undoRecord: string;
}

export function remoteFiles(s: Settings, host: Host): RemoteFiles {
  const r = s.certsRemoteDir;
  return {
    caCert: `${r}/ca/${s.domain}-ca.crt.pem`,
    key: `${r}/${ROLE_DIR[host.role]}/${host.fqdn}.key.pem`,
    cert: `${r}/${ROLE_DIR[host.role]}/${host.fqdn}.crt.pem`,
    applyScript: `${r}/apply-${host.role === 'server' ? 'smtpd-server' : 'smtp-client'}.sh`,
    undoRecord: `${r}/undo-${ROLE_DIR[host.role]}.txt`,
  };
}
