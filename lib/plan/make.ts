// The building blocks of a plan: steps that render a config, run a command into a temp file, or copy.
import { tmpName } from '../files/atomic.js';
import type { Command } from '../programs/command.js';
import { confValue } from '../files/render.js';
import type { CaFiles } from '../files/layout.js';
import type { Settings, Subject } from '../settings/index.js';
import type { CopyStep, ExecStep, WriteStep } from './step.js';

/** Steps that change the CA database share this lock: one `openssl ca` at a time. */
export const CA_DB = 'ca-database';

export function dn(subject: Subject, cn: string): string {
  const order: (keyof Subject)[] = ['C', 'ST', 'L', 'O', 'OU'];
  const lines = order.filter((k) => subject[k] !== undefined).map((k) => `${k} = ${confValue(subject[k]!)}`);
  lines.push(`CN = ${confValue(cn)}`);
  return lines.join('\n');
}

export function conf(id: string, title: string, output: string, name: string, context: Record<string, string | number>): WriteStep {
  return { kind: 'write', id, title, inputs: [], outputs: [output], output, mode: 0o644, template: { engine: 'conf', name }, context, createOnly: false };
}

export function exec(id: string, title: string, inputs: string[], output: string, mode: number, command: (tmp: string) => Command, extra: Partial<ExecStep> = {}): ExecStep {
  const tmp = tmpName(output);
  return { kind: 'exec', id, title, inputs, outputs: [output], output, tmp, mode, command: command(tmp), createOnly: false, ...extra };
}

export function copy(id: string, source: string, output: string, mode: number): CopyStep {
  return { kind: 'copy', id, title: `bundle ${output}`, inputs: [source], outputs: [output], source, output, mode };
}

/** The passphrase file as the printed commands name it (a placeholder when the settings have none). */
export const passFile = (s: Settings): string => s.passphraseFile ?? '${certs_passphrase_file}';

/** The CA database files every `openssl ca` needs to exist first. */
export const dbFiles = (ca: CaFiles): string[] => [ca.index, ca.indexAttr, ca.crlnumber, `${ca.newcerts}/.keep`];
