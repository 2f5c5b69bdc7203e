// Reads settings by name from the evaluated make variables (and, as make does, the environment), and
// turns every failed check into one line naming file, line and setting.
import { UsageError } from '../errors.js';
import type { MakeVariables, Origin } from './makefile.js';

export const ENV_ORIGIN: Origin = { file: '<environment>', line: 0 };

export function where(o: Origin | undefined): string {
  if (!o) return 'settings';
  if (o.file === '--set') return '--set';
  if (o.file === '<default>') return 'default';
  if (o.file === ENV_ORIGIN.file) return 'environment';
  return `${o.file}:${o.line}`;
}

/** Reads settings by name and turns every failed check into one line naming file, line and setting. */
export class Reader {
  constructor(private readonly vars: MakeVariables, private readonly shown: string, private readonly env: Record<string, string | undefined>) {}

  origin(name: string): Origin | undefined {
    return this.vars.origin(name) ?? (this.env[name] !== undefined ? ENV_ORIGIN : undefined);
  }

  get(name: string): string {
    const res = this.vars.resolve(name);
    // As in make, a setting the files never assign comes from the environment (`days=30 postfix-tls-relay`),
    // even when empty; an assignment in the file (other than ?=) wins over it. Taken literally, like $(HOME).
    if (!res) return this.env[name] ?? '';
    if (res.undefinedRefs.length) {
      const refs = res.undefinedRefs.map((x) => `$(${x})`).join(', ');
      throw new UsageError(`${where(res.origin)}: ${name} refers to undefined ${refs}; define it in ${this.shown} or the environment`);
    }
    return res.value;
  }

  check(name: string, fn: (x: string) => string | undefined, required = false): string {
    const value = this.get(name);
    if (value === '' && required) {
      throw new UsageError(`${where(this.origin(name)) === 'settings' ? this.shown : where(this.origin(name))}: ${name} is not set; add "${name} := …" to ${this.shown}`);
    }
    const e = fn(value);
    if (e) throw new UsageError(`${where(this.origin(name))}: ${name} ${e.startsWith('is ') ? e : `= ${e}`}`);
    return value;
  }

  optional(name: string, fn: (x: string) => string | undefined): string | undefined {
    const value = this.get(name);
    return value === '' ? undefined : this.check(name, fn);
  }
}
