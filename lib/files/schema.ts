// Declared shapes for what the tool reads back from its own records: a shape checks a parsed value and
// names the first thing wrong ("rotations[0].previous: expected an array, found a string"), so that a
// hand edit, a restore of another version or a damaged file is one line naming the file, never a
// TypeError deep inside. Plain functions, no library: a fleet's records are checked on every run.

/** Checks `v` (found at `at`); the first problem as text, undefined when `v` has the shape. */
export interface Shape<T> {
  (v: unknown, at: string): string | undefined;
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

/** `at` as the start of a message: "rotations[0].previous: ", or nothing at the top. */
const where = (at: string) => (at ? `${at}: ` : '');
const field = (at: string, k: string) => (at ? `${at}.${k}` : k);
const expected = (what: string, v: unknown, at: string) => `${where(at)}expected ${what}, found ${kindOf(v)}`;

export const str: Shape<string> = (v, at) => (typeof v === 'string' ? undefined : expected('a string', v, at));
export const num: Shape<number> = (v, at) => (typeof v === 'number' && Number.isFinite(v) ? undefined : expected('a number', v, at));
export const bool: Shape<boolean> = (v, at) => (typeof v === 'boolean' ? undefined : expected('true or false', v, at));

export function oneOf<T extends string>(...values: T[]): Shape<T> {
  return (v, at) => (typeof v === 'string' && (values as string[]).includes(v) ? undefined : `${where(at)}expected ${values.map((x) => JSON.stringify(x)).join(' or ')}, found ${typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : kindOf(v)}`);
}

export function nullable<T>(s: Shape<T>): Shape<T | null> {
  return (v, at) => (v === null ? undefined : s(v, at));
}

/** `s`, and then `ok` (what it must also be, `what`, for the message). */
export function refine<T>(s: Shape<T>, ok: (v: T) => boolean, what: string): Shape<T> {
  return (v, at) => s(v, at) ?? (ok(v as T) ? undefined : `${where(at)}expected ${what}`);
}

export function arrayOf<T>(item: Shape<T>): Shape<T[]> {
  return (v, at) => {
    if (!Array.isArray(v)) return expected('an array', v, at);
    for (let i = 0; i < v.length; i++) {
      const e = item(v[i], `${at}[${i}]`);
      if (e) return e;
    }
    return undefined;
  };
}

export function tuple<T extends unknown[]>(...items: { [K in keyof T]: Shape<T[K]> }): Shape<T> {
  return (v, at) => {
    if (!Array.isArray(v) || v.length !== items.length) return expected(`an array of ${items.length}`, v, at);
    for (let i = 0; i < items.length; i++) {
      const e = (items[i] as Shape<unknown>)(v[i], `${at}[${i}]`);
      if (e) return e;
    }
    return undefined;
  };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object used as a map: any keys, each value of `value`'s shape. */
export function recordOf<T>(value: Shape<T>): Shape<Record<string, T>> {
  return (v, at) => {
    if (!isPlainObject(v)) return expected('an object', v, at);
    for (const k in v) {
      const e = value(v[k], field(at, k));
      if (e) return e;
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
  return (v, at) => {
    if (!isPlainObject(v)) return expected('an object', v, at);
    for (const [k, s] of req) {
      if (!Object.hasOwn(v, k)) return `${where(at)}"${k}" is missing`;
      const e = s(v[k], field(at, k));
      if (e) return e;
    }
    for (const [k, s] of opt) {
      if (v[k] === undefined) continue;
      const e = s(v[k], field(at, k));
      if (e) return e;
    }
    return undefined;
  };
}
