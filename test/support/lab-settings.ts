// Settings that point both roles at a lab's Postfix instances and keep every installed file inside the lab.
import type { Lab } from './lab.js';
import { settingsText } from './project.js';

export function labSettings(lab: Lab, extra = ''): (pass: string) => string {
  return (pass) =>
    settingsText(
      pass,
      [
        `smtp_client_postfix_dir := ${lab.clientDir}`,
        `smtpd_server_postfix_dir := ${lab.relayDir}`,
        `certs_remote_dir := ${lab.root}/installed`,
        `smtpd_server_relay_clientcerts_in := ${lab.root}/installed/relay_clientcerts`,
        `smtpd_server_port := ${lab.relayPort}`,
        'smtp_client_tls_loglevel := 1',
        'smtpd_server_tls_loglevel := 1',
        extra,
      ].join('\n'),
    );
}
