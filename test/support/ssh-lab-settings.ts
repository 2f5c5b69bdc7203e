// Settings that deploy both roles of a lab over the test sshd on 127.0.0.1 (deploy and monitoring e2e).
import type { Lab } from './lab.js';
import type { Sshd } from './sshd.js';

/** The sshd's `-o` options (not Port, which comes from *_ssh_port; not -F, which is no -o option). */
export function sshOptionPairs(sshd: Sshd): string[] {
  const pairs: string[] = [];
  sshd.sshOptions.forEach((a, i) => {
    const next = sshd.sshOptions[i + 1];
    if (a === '-o' && next && !next.startsWith('Port=')) pairs.push(next);
  });
  return pairs;
}

export function sshLabSettings(lab: Lab, sshd: Sshd): string {
  return [
    `smtp_client_postfix_dir := ${lab.clientDir}`,
    `smtpd_server_postfix_dir := ${lab.relayDir}`,
    `certs_remote_dir := ${lab.root}/etc/postfix-tls-based-relaying`,
    `smtpd_server_relay_clientcerts_in := ${lab.relayDir}/relay_clientcerts`,
    'smtp_client_ssh_host := 127.0.0.1',
    'smtpd_server_ssh_host := 127.0.0.1',
    `smtp_client_ssh_port := ${sshd.port}`,
    `smtpd_server_ssh_port := ${sshd.port}`,
    `ssh_options := ${sshOptionPairs(sshd).join(' ')}`,
    `smtpd_server_port := ${lab.relayPort}`,
  ].join('\n');
}
