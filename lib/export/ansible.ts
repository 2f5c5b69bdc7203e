// An Ansible inventory and playbook for fleets: the same bundle files `deploy` sends (paths, owners, modes),
// then each host's apply.sh, relays before clients, in batches. The playbook reads the bundles from out/
// when it runs, so a rebuild needs no new export; only a change of hosts or paths does. Nothing here
// holds a key: the files name paths, the CA key is not one of them.
import { bundleFiles } from '../remote/deploy.js';
import { expectedFiles } from '../remote/compare.js';
import { remoteFiles } from '../files/layout.js';
import type { Host, Settings } from '../settings/index.js';
import { TOOL_VERSION } from '../plan/bundle.js';

export interface ExportFile {
  name: string;
  text: string;
  mode: number;
}

/** A YAML scalar: JSON's double-quoted strings are valid YAML and need no escaping rules of their own. */
const q = (v: string | number | boolean) => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/** Batch size of each play when the playbook is run without -e ptr_batch=N. */
export const DEFAULT_BATCH = 20;

function hostVars(s: Settings, h: Host): string[] {
  const files = expectedFiles(s, h);
  const modes = new Map(files.map((f) => [f.path, f.mode]));
  return [
    `        ${q(h.fqdn)}:`,
    `          ansible_host: ${q(h.ssh.host)}`,
    `          ansible_port: ${h.ssh.port}`,
    `          ansible_user: ${q(h.ssh.user)}`,
    // apply.sh and the files under /etc need root: a non-root login becomes root with sudo.
    ...(h.ssh.user === 'root' ? [] : ['          ansible_become: true']),
    `          ptr_postfix_dir: ${q(h.postfixDir)}`,
    `          ptr_apply: ${q(remoteFiles(s, h).applyScript)}`,
    '          ptr_files:',
    ...bundleFiles(s, h).map((f) => `            - { path: ${q(f)}, mode: ${q(modes.get(f) ?? '0644')} }`),
  ];
}

export function inventory(s: Settings): string {
  const group = (name: string, hosts: readonly Host[]) => [`    ${name}:`, '      hosts:', ...hosts.flatMap((h) => hostVars(s, h))];
  const sshArgs = s.sshOptions.map((o) => `-o ${o}`).join(' ');
  return [
    `# Ansible inventory written by postfix-tls-relay ${TOOL_VERSION} (export ansible) from ${s.file ?? 'the settings'}.`,
    '# Export again when hosts or paths change; a rebuild (new certificates, allowlist) needs no new export.',
    'all:',
    '  vars:',
    `    ptr_project: ${q(s.projectDir)}`,
    ...(sshArgs ? [`    ansible_ssh_common_args: ${q(sshArgs)}`] : []),
    '  children:',
    ...group('relays', s.servers),
    ...group('clients', s.clients),
    '',
  ].join('\n');
}

/** The tasks of one host: refuse a bundle holding an encrypted key, copy, apply, reload if only files changed. */
const TASKS = `  tasks:
    - name: the bundle holds no encrypted private key (the CA key never leaves the workstation)
      delegate_to: localhost
      become: false
      ansible.builtin.command:
        argv: [grep, -rlE, "ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED", "{{ ptr_project }}/out/{{ inventory_hostname }}/root"]
      register: ptr_encrypted
      changed_when: false
      failed_when: ptr_encrypted.rc != 1

    - name: directories of the bundle files (only missing ones are made; existing ones such as /etc stay as they are)
      ansible.builtin.file:
        path: "{{ item }}"
        state: directory
      loop: "{{ ptr_files | map(attribute='path') | map('dirname') | unique }}"

    - name: bundle files (from out/ as built now), owned by root with the bundle's modes
      ansible.builtin.copy:
        src: "{{ ptr_project }}/out/{{ inventory_hostname }}/root{{ item.path }}"
        dest: "{{ item.path }}"
        owner: root
        group: root
        mode: "{{ item.mode }}"
      loop: "{{ ptr_files }}"
      loop_control:
        label: "{{ item.path }}"
      register: ptr_copied

    - name: apply.sh (postconf; reloads Postfix when it changed something)
      ansible.builtin.command:
        argv: [sh, "{{ ptr_apply }}"]
      register: ptr_applied
      # Its last line is "apply: <fqdn>: unchanged" or "apply: <fqdn>: N change(s) applied".
      changed_when: "not (ptr_applied.stdout_lines | last | default('') is search(': unchanged$'))"

    - name: reload Postfix, which reads keys, certificates and texthash tables at process start
      when: ptr_copied.changed and not ptr_applied.changed
      ansible.builtin.shell: >-
        PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH;
        if postfix -c "{{ ptr_postfix_dir }}" status >/dev/null 2>&1; then postfix -c "{{ ptr_postfix_dir }}" reload; fi
`;

export function playbook(): string {
  const play = (name: string, group: string, fatal: boolean) => [
    `- name: ${q(name)}`,
    `  hosts: ${group}`,
    '  gather_facts: false',
    `  serial: "{{ ptr_batch | default(${DEFAULT_BATCH}) }}"`,
    ...(fatal ? ['  # A client must never present a certificate a relay may not trust yet: one failed relay ends the run.', '  any_errors_fatal: true'] : []),
    TASKS,
  ].join('\n');
  return [
    `# Written by postfix-tls-relay ${TOOL_VERSION} (export ansible). Run: ansible-playbook -i inventory.yml playbook.yml [-e ptr_batch=N]`,
    '# Relays first (all of them), then the clients, in batches of ptr_batch hosts.',
    '---',
    play('relays (smtpd servers): bundle and apply.sh', 'relays', true),
    play('smtp clients: bundle and apply.sh', 'clients', false),
  ].join('\n');
}

const CONFIG = `# Written by postfix-tls-relay ${TOOL_VERSION} (export ansible).
[defaults]
inventory = inventory.yml
interpreter_python = auto_silent
retry_files_enabled = False
`;

export function ansibleExport(s: Settings): ExportFile[] {
  return [
    { name: 'inventory.yml', text: inventory(s), mode: 0o644 },
    { name: 'playbook.yml', text: playbook(), mode: 0o644 },
    { name: 'ansible.cfg', text: CONFIG, mode: 0o644 },
  ];
}
