// A lab whose both roles are deployed over the test sshd on 127.0.0.1 (deploy and monitoring e2e): its settings, start and stop.
import { createLab, freePort, type Lab } from './lab.js';
import { createProject, settingsText, type TestProject } from './project.js';
import { startSshd, type Sshd } from './sshd.js';

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
    // check --live's port-25 probe: the lab's smtp-sink, so that no query or connection leaves the machine.
    `smtp_probe_host := 127.0.0.1:${lab.sinkPort}`,
  ].join('\n');
}

/** The parts of an ssh lab, filled in as they start, so that a failed start is cleaned up as well. */
export interface SshLab {
  sshd?: Sshd;
  lab?: Lab;
  proj?: TestProject;
}

/** The test sshd, then the two-instance Postfix lab, then a project whose hosts are both reached over that sshd. */
export async function startSshLab(into: SshLab, relayFqdn: string, clientFqdn: string): Promise<Required<SshLab>> {
  // sshd first: the relay port stays unbound until apply.sh adds the service, so a port picked
  // before sshd listens could be handed to sshd as well.
  into.sshd = await startSshd();
  into.lab = await createLab({ relayFqdn, clientFqdns: [clientFqdn], relayPort: await freePort() });
  await into.lab.start();
  const { lab, sshd } = into;
  into.proj = createProject({ settings: (pf) => settingsText(pf, sshLabSettings(lab, sshd)) });
  return into as Required<SshLab>;
}

/** Stops whatever of the lab was started, every part even when one fails; then throws the first error. */
export async function stopSshLab(l: SshLab): Promise<void> {
  const errors: unknown[] = [];
  for (const step of [() => l.sshd?.stop(), () => l.lab?.cleanup(), () => l.proj?.dispose()]) {
    try {
      await step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length) throw errors[0];
}
