// The global options, defined once: yargs builds the full CLI from this table, and a plain `build`,
// `plan`, `status` or `add-client HOST` (the commands run most, from timers, monitoring and scripts) is
// parsed from it with node's own parseArgs, so that they do not pay for loading yargs (about as long as
// starting node itself) and for the help text it lays out on every run.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { GlobalArgs } from './context.js';
import { UsageError } from '../errors.js';

export interface GlobalOption {
  /** Long name as typed (kebab-case); yargs also accepts its camelCase form. */
  readonly name: string;
  /** The GlobalArgs field it sets. */
  readonly key: keyof GlobalArgs;
  readonly alias?: string;
  readonly type: 'string' | 'boolean' | 'number';
  readonly array?: boolean;
  readonly default?: string | boolean;
  readonly describe: string;
}

export const GLOBAL_OPTIONS: readonly GlobalOption[] = [
  { name: 'dir', key: 'dir', alias: 'C', type: 'string', default: '.', describe: 'Project directory (holds settings.mk, certs/, out/)' },
  { name: 'settings', key: 'settings', alias: 'f', type: 'string', describe: 'Settings file (default: <dir>/settings.mk)' },
  { name: 'set', key: 'set', type: 'string', array: true, describe: 'Override a setting: --set KEY=VALUE (repeatable)' },
  { name: 'quiet', key: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'Print only errors' },
  { name: 'verbose', key: 'verbose', alias: 'v', type: 'boolean', default: false, describe: 'Print every step, also those up to date' },
  { name: 'json', key: 'json', type: 'boolean', default: false, describe: 'Machine-readable result on stdout' },
  { name: 'dry-run', key: 'dryRun', alias: 'n', type: 'boolean', default: false, describe: 'Show what would be done; change nothing' },
  { name: 'jobs', key: 'jobs', alias: 'j', type: 'number', describe: 'Steps run in parallel (default: number of CPUs); for deploy, hosts of one phase deployed at once (default 4)' },
];

/** Commands a plain invocation may name, with how many positionals follow: with global options only, they need nothing from yargs. */
const PLAIN_POSITIONALS = { build: 0, plan: 0, status: 0, 'add-client': 1 } as const;
export type PlainCommand = keyof typeof PLAIN_POSITIONALS;

/**
 * The command and arguments of a plain `build`, `plan`, `status` or `add-client HOST` (global options only), or undefined
 * for anything else, and for anything yargs might read differently (help, unknown or negated options,
 * a command's own options, `--`, a repeated option, `-C=dir`, a positional after the greedy `--set`, a
 * --jobs that is not digits): those go to yargs, which handles them and their errors.
 */
export function plainCommand(argv: readonly string[]): { command: PlainCommand; args: GlobalArgs; positionals: string[] } | undefined {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const o of GLOBAL_OPTIONS) {
    options[o.name] = { type: o.type === 'boolean' ? 'boolean' : 'string', multiple: o.array === true, ...(o.alias ? { short: o.alias } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true, tokens: true });
  } catch {
    return undefined;
  }
  const seen = new Set<string>();
  let afterArray = false;
  for (const t of parsed.tokens) {
    if (t.kind === 'option-terminator') return undefined;
    if (t.kind === 'positional') {
      if (afterArray) return undefined;
      continue;
    }
    const o = GLOBAL_OPTIONS.find((g) => g.name === t.name)!;
    if (t.inlineValue && !t.rawName.startsWith('--')) return undefined;
    if (!o.array && seen.has(o.name)) return undefined;
    seen.add(o.name);
    afterArray = o.array === true;
  }
  const [first, ...rest] = parsed.positionals;
  const command = first === undefined ? 'build' : Object.hasOwn(PLAIN_POSITIONALS, first) ? (first as PlainCommand) : undefined;
  if (command === undefined || rest.length !== PLAIN_POSITIONALS[command]) return undefined;

  const args: Record<string, unknown> = {};
  for (const o of GLOBAL_OPTIONS) {
    const value = (parsed.values as Record<string, string | boolean | string[] | undefined>)[o.name] ?? o.default;
    if (value === undefined) continue;
    if (o.type === 'number') {
      if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
      args[o.key] = Number(value);
    } else {
      args[o.key] = value;
    }
  }
  return { command, args: args as unknown as GlobalArgs, positionals: rest };
}

/**
 * yargs `coerce` for a count option (--warn-days, --within): a whole number from `min`, else exit 2
 * naming the option. yargs turns "abc" into NaN, which would silently switch a check off.
 */
export function wholeNumber(flag: string, what: string, min = 0): (value: unknown) => number {
  return (value) => {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    const text = String(last);
    if (typeof last === 'number' ? Number.isInteger(last) && last >= min : /^\d+$/.test(text) && Number(text) >= min) return Number(text);
    throw new UsageError(`--${flag} ${JSON.stringify(text)}: expected a whole number of ${what}, ${min} or more, e.g. --${flag} 30`);
  };
}
