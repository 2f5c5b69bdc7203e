// Declared shapes for what the tool reads back from its own records: a shape checks a parsed value and
// names the first thing wrong ("rotations[0].previous: expected an array, found a string"), so that a
// hand edit, a restore of another version or a damaged file is one line naming the file, never a
// TypeError deep inside. Plain functions, no library: a fleet's records are checked on every run.

/** What is wrong and where: `path` is filled from the inside out, and only when something is wrong. */
export interface Problem {
  readonly path: (string | number)[];
  readonly what: string;
}

/** Checks `v`: undefined when it has the shape, else the first problem. */
export interface Shape<T> {
  (v: unknown): Problem | undefined;
  /** Never set: carries the type the shape describes. */
  readonly __type?: T;
}

/** The type a shape describes. */
export type Of<S> = S extends Shape<infer T> ? T : never;

/** What a value is, for the message: "a string", "null", "an array". */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' ? 'an object' : t === 'undefined' ? 'nothing' : `a ${t}`;
}

/** The problem as one line: "rotations[0].previous: expected an array, found a string". */
export function describeProblem(p: Problem): string {
  let at = '';
  for (let i = p.path.length - 1; i >= 0; i--) {
    const k = p.path[i]!;
    at += typeof k === 'number' ? `[${k}]` : at ? `.${k}` : k;
  }
  return at ? `${at}: ${p.what}` : p.what;
}

const problem = (what: string): Problem => ({ path: [], what });
const expected = (what: string, v: unknown) => problem(`expected ${what}, found ${kindOf(v)}`);
/** `p` found under `key`: the path grows only on the way out of a failure. */
const under = (p: Problem, key: string | number): Problem => (p.path.push(key), p);

export const str: Shape<string> = (v) => (typeof v === 'string' ? undefined : expected('a string', v));
export const num: Shape<number> = (v) => (typeof v === 'number' && Number.isFinite(v) ? undefined : expected('a number', v));
export const bool: Shape<boolean> = (v) => (typeof v === 'boolean' ? undefined : expected('true or false', v));

export function oneOf<T extends string>(...values: T[]): Shape<T> {
  return (v) => (typeof v === 'string' && (values as string[]).includes(v) ? undefined : problem(`expected ${values.map((x) => JSON.stringify(x)).join(' or ')}, found ${typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : kindOf(v)}`));
}

export function nullable<T>(s: Shape<T>): Shape<T | null> {
  return (v) => (v === null ? undefined : s(v));
}

/** `s`, and then `ok` (what it must also be, `what`, for the message). */
export function refine<T>(s: Shape<T>, ok: (v: T) => boolean, what: string): Shape<T> {
  return (v) => s(v) ?? (ok(v as T) ? undefined : problem(`expected ${what}`));
}

export function arrayOf<T>(item: Shape<T>): Shape<T[]> {
  return (v) => {
    if (!Array.isArray(v)) return expected('an array', v);
    for (let i = 0; i < v.length; i++) {
      const e = item(v[i]);
      if (e) return under(e, i);
    }
    return undefined;
  };
}

export function tuple<T extends unknown[]>(...items: { [K in keyof T]: Shape<T[K]> }): Shape<T> {
  return (v) => {
    if (!Array.isArray(v) || v.length !== items.length) return expected(`an array of ${items.length}`, v);
    for (let i = 0; i < items.length; i++) {
      const e = (items[i] as Shape<unknown>)(v[i]);
      if (e) return under(e, i);
    }
    return undefined;
  };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object used as a map: any keys, each value of `value`'s shape. */
export function recordOf<T>(value: Shape<T>): Shape<Record<string, T>> {
  return (v) => {
    if (!isPlainObject(v)) return expected('an object', v);
    for (const k in v) {
      const e = value(v[k]);
      if (e) return under(e, k);
    }
    return undefined;
  };
}

type Fields = Record<string, Shape<unknown>>;
type ObjectOf<R extends Fields, O extends Fields> = { [K in keyof R]: Of<R[K]> } & { [K in keyof O]?: Of<O[K]> };

/**
 * An object with these fields (`optional`: may be missing). Other keys are allowed: a newer version
 * may add some, and what is checked is what this version reads.
 */
export function object<R extends Fields, O extends Fields = Record<never, never>>(required: R, optional?: O): Shape<ObjectOf<R, O>> {
  const req = Object.entries(required);
  const opt = Object.entries(optional ?? {});
  return (v) => {
    if (!isPlainObject(v)) return expected('an object', v);
    for (const [k, s] of req) {
      if (!Object.hasOwn(v, k)) return problem(`"${k}" is missing`);
      const e = s(v[k]);
      if (e) return under(e, k);
    }
    for (const [k, s] of opt) {
      if (v[k] === undefined) continue;
      const e = s(v[k]);
      if (e) return under(e, k);
    }
    return undefined;
  };
}
