// Parser and evaluator for the subset of GNU make syntax found in users'
// `settings.mk` files. We never run make: variables are evaluated here with
// make's semantics (flavors, +=, ?=, command-line overrides, env fallback).
//
// Supported: `name := v`, `::=`, `=`, `?=`, `+=` (optionally prefixed with
// `export`/`override`), `$(name)`, `${name}`, `$x`, `$$`, `#` comments, `\#`,
// backslash-newline continuations. Everything else is a MakeSyntaxError.

export type AssignOp = ':=' | '::=' | '=' | '?=' | '+=';

export interface Assignment {
  name: string;
  op: AssignOp;
  value: string;
  file: string;
  line: number;
}

/** Every error from this module: `message` is one line, `file:line: reason`. */
export class MakeSyntaxError extends Error {
  /** The message without the `file:line: ` prefix. */
  readonly reason: string;
  constructor(message: string, public file: string, public line: number) {
    super(`${file}:${line}: ${message}`);
    this.name = 'MakeSyntaxError';
    this.reason = message;
  }
}

export interface Origin {
  file: string;
  line: number;
}

export interface Resolved {
  value: string;
  origin: Origin;
  /** Names referenced (transitively) that are neither make variables nor set in the environment. */
  undefinedRefs: string[];
  /** Names referenced (transitively) that were taken from the environment, e.g. HOME. */
  envRefs: string[];
}

export const DEFAULTS_ORIGIN: Origin = Object.freeze({ file: '<defaults>', line: 0 });
export const OVERRIDE_ORIGIN: Origin = Object.freeze({ file: '--set', line: 0 });

// ---------------------------------------------------------------- parsing

// Names are plain words: no computed names, no whitespace, nothing make
// would read as part of an operator, rule or reference. Non-greedy so that
// `a+=b` is an append to `a`, not `a+ = b`.
const ASSIGN_RE = /^\s*([^\s:#=!$(){}]+?)\s*(::=|:=|\?=|\+=|=)(.*)$/s;
const KEYWORD_RE = /^\s*(?:export|override)\s+(.*)$/s;

function clip(s: string, max = 60): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Remove a `#` comment. A run of n backslashes before `#` becomes n/2
 * backslashes; if n is odd the `#` is literal, otherwise it starts a comment
 * (make's rule, so `\#` is a literal `#`). Other backslashes are kept as is.
 */
function stripComment(line: string): string {
  let out = '';
  for (let i = 0; i < line.length; ) {
    const c = line[i];
    if (c === '#') return out;
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    let j = i;
    while (line[j] === '\\') j++;
    const n = j - i;
    if (line[j] !== '#') {
      out += line.slice(i, j);
      i = j;
    } else if (n % 2 === 1) {
      out += '\\'.repeat((n - 1) / 2) + '#';
      i = j + 1;
    } else {
      return out + '\\'.repeat(n / 2);
    }
  }
  return out;
}

function endsWithContinuation(line: string): boolean {
  let n = 0;
  for (let i = line.length - 1; i >= 0 && line[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

/** Physical lines -> logical lines, each tagged with the line it starts on. */
function logicalLines(text: string): { text: string; line: number }[] {
  const phys = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const out: { text: string; line: number }[] = [];
  for (let i = 0; i < phys.length; i++) {
    const start = i + 1;
    let cur = phys[i] ?? '';
    // make joins continuations with one space, eating whitespace around the
    // backslash-newline and any empty continuation lines in between.
    const parts: string[] = [];
    while (endsWithContinuation(cur) && i + 1 < phys.length) {
      const piece = cur.slice(0, -1);
      parts.push(parts.length === 0 ? piece.trimEnd() : piece.trim());
      cur = phys[++i] ?? '';
    }
    if (parts.length > 0) {
      parts.push(cur.trimStart());
      cur = parts.filter((p, k) => k === 0 || p !== '').join(' ');
    }
    out.push({ text: cur, line: start });
  }
  return out;
}

function hintFor(content: string, startsWithTab: boolean): string {
  if (startsWithTab) return ' (recipe lines are not supported)';
  const word = content.trim().split(/\s+/)[0] ?? '';
  if (/^(ifeq|ifneq|ifdef|ifndef|else|endif)$/.test(word)) return ' (make conditionals are not supported)';
  if (/^(-?include|sinclude)$/.test(word)) return ' (include is not supported)';
  if (/^(define|endef)$/.test(word)) return ' (define blocks are not supported)';
  if (/!=/.test(content)) return ' (shell assignments "!=" are not supported)';
  if (/^[^=]*:/.test(content)) return ' (rules are not supported)';
  return '';
}

function parseAssignment(content: string): { name: string; op: AssignOp; value: string } | undefined {
  // `export`/`override` are accepted and ignored; but `export := x` assigns a
  // variable named "export", hence the fallback to the whole line.
  const tries: string[] = [];
  for (let rest: string | undefined = content; rest !== undefined; rest = KEYWORD_RE.exec(rest)?.[1]) {
    tries.unshift(rest);
  }
  for (const t of tries) {
    const m = ASSIGN_RE.exec(t);
    if (m) {
      // Trailing whitespace is stripped too: make keeps it, but in a
      // setting (a hostname, a path...) it is always a mistake.
      return { name: m[1]!, op: m[2] as AssignOp, value: m[3]!.trim() };
    }
  }
  return undefined;
}

export function parseMakeText(text: string, file: string): Assignment[] {
  const result: Assignment[] = [];
  for (const { text: raw, line } of logicalLines(text)) {
    const content = stripComment(raw);
    if (content.trim() === '') continue;
    const startsWithTab = raw.startsWith('\t');
    const parsed = startsWithTab ? undefined : parseAssignment(content);
    if (!parsed) {
      throw new MakeSyntaxError(
        `expected an assignment such as "name := value", found "${clip(content.trim())}"${hintFor(content, startsWithTab)}`,
        file,
        line,
      );
    }
    checkValue(parsed.value, file, line);
    result.push({ ...parsed, file, line });
  }
  return result;
}

// ------------------------------------------------------------- references

type Piece = { lit: string } | { ref: string };

/** Internal: a problem in a value, located by the caller. */
class RefError extends Error {}

/**
 * Bounds on one expansion, so that variables that double each other (`x2 = $(x1)$(x1)`, …) stop with
 * one line instead of exhausting memory: the value (in characters), the references followed and how
 * deep references nest. A fleet's longest value, its client list, is a few dozen kilobytes.
 */
export const EXPANSION_LIMITS = { valueChars: 1024 * 1024, references: 100_000, depth: 64 } as const;

/** Internal: an expansion past EXPANSION_LIMITS, reported for the variable being assigned or read. */
class LimitError extends Error {}

/**
 * Split a value into literal text and variable references. Rejects what we
 * do not evaluate (functions, substitution references) instead of silently
 * producing a wrong value.
 */
function tokenize(text: string): Piece[] {
  if (!text.includes('$')) return text ? [{ lit: text }] : []; // most values (a fleet's host list is long)
  const out: Piece[] = [];
  let lit = '';
  const flush = () => {
    if (lit) out.push({ lit });
    lit = '';
  };
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    const n = text[i + 1];
    if (c !== '$' || n === undefined) {
      lit += c; // make keeps a trailing lone `$`
      i++;
    } else if (n === '$') {
      lit += '$';
      i += 2;
    } else if (n === '(' || n === '{') {
      const close = n === '(' ? ')' : '}';
      let depth = 1;
      let j = i + 2;
      for (; j < text.length; j++) {
        if (text[j] === n) depth++;
        else if (text[j] === close && --depth === 0) break;
      }
      const whole = text.slice(i, j + 1);
      if (j >= text.length) throw new RefError(`unterminated variable reference "${clip(whole)}"`);
      const body = text.slice(i + 2, j);
      // Nested references first, so `$(a_$(shell x))` blames "shell".
      if (body.includes('$')) tokenize(body);
      if (/[\s,]/.test(body)) {
        const fn = /^[^\s,]*/.exec(body)![0];
        throw new RefError(
          `make function "${fn}" is not supported in "${clip(whole)}" (only $(name) and \${name} references are)`,
        );
      }
      if (body.includes(':')) throw new RefError(`substitution reference "${clip(whole)}" is not supported`);
      flush();
      out.push({ ref: body });
      i = j + 1;
    } else {
      // `$x` is the variable "x"; `$ ` names the blank variable (empty), like make.
      flush();
      out.push({ ref: /\s/.test(n) ? '' : n });
      i += 2;
    }
  }
  flush();
  return out;
}

function checkValue(value: string, file: string, line: number): void {
  try {
    tokenize(value);
  } catch (e) {
    if (e instanceof RefError) throw new MakeSyntaxError(e.message, file, line);
    throw e;
  }
}

// ------------------------------------------------------------- evaluation

interface Variable {
  flavor: 'simple' | 'recursive';
  /** simple: already expanded; recursive: raw text, expanded at use. */
  value: string;
  /** simple only: what the expansion at assignment time found. */
  undefinedRefs: string[];
  envRefs: string[];
  /** Where it was last set (the latest `+=` counts). */
  origin: Origin;
}

interface State {
  vars: Map<string, Variable>;
  order: string[];
}

interface ExpandCtx {
  stack: string[];
  undefinedRefs: Set<string>;
  envRefs: Set<string>;
  /** References followed so far, and how deep expand() is now. */
  refs: number;
  depth: number;
}

const newCtx = (stack: string[] = []): ExpandCtx => ({ stack, undefinedRefs: new Set(), envRefs: new Set(), refs: 0, depth: 0 });

/** The LimitError `e` as one line for the variable `name` set at `origin`. */
function limitError(e: LimitError, name: string, origin: Origin): MakeSyntaxError {
  return new MakeSyntaxError(`${name} expands past ${e.message}; look for variables that refer to each other over and over`, origin.file, origin.line);
}

export interface MakeVariablesOptions {
  env?: Record<string, string | undefined>;
  defaults?: Record<string, string>;
}

export class MakeVariables {
  private readonly env: Record<string, string | undefined>;
  private readonly defaults: Record<string, string>;
  private readonly log: Assignment[] = [];
  private readonly overrides = new Map<string, Variable>();
  private state: State;

  constructor(opts: MakeVariablesOptions = {}) {
    this.env = opts.env ?? process.env;
    this.defaults = opts.defaults ?? {};
    this.state = this.build();
  }

  assign(a: Assignment): void {
    checkValue(a.value, a.file, a.line);
    this.apply(this.state, a);
    this.log.push(a);
  }

  assignAll(list: Assignment[]): void {
    for (const a of list) this.assign(a);
  }

  /**
   * Command-line style (`--set name=value`): recursive, and wins over the
   * file. As in make, it is in effect from the start, so `x := ${name}` in the
   * file sees the override: the file is replayed rather than patched.
   */
  override(name: string, value: string): void {
    checkValue(value, OVERRIDE_ORIGIN.file, OVERRIDE_ORIGIN.line);
    const previous = this.overrides.get(name);
    this.overrides.set(name, { flavor: 'recursive', value, undefinedRefs: [], envRefs: [], origin: OVERRIDE_ORIGIN });
    try {
      this.state = this.build();
    } catch (e) {
      if (previous) this.overrides.set(name, previous);
      else this.overrides.delete(name);
      throw e;
    }
  }

  has(name: string): boolean {
    return this.lookup(this.state, name) !== undefined;
  }

  resolve(name: string): Resolved | undefined {
    const v = this.lookup(this.state, name);
    if (!v) return undefined;
    if (v.flavor === 'simple') {
      return { value: v.value, origin: v.origin, undefinedRefs: [...v.undefinedRefs], envRefs: [...v.envRefs] };
    }
    const ctx = newCtx([name]);
    let value: string;
    try {
      value = this.expand(this.state, v.value, ctx);
    } catch (e) {
      if (e instanceof LimitError) throw limitError(e, name, v.origin);
      throw e;
    }
    return { value, origin: v.origin, undefinedRefs: [...ctx.undefinedRefs], envRefs: [...ctx.envRefs] };
  }

  names(): string[] {
    const out = [...this.state.order];
    for (const n of this.overrides.keys()) if (!out.includes(n)) out.push(n);
    return out;
  }

  origin(name: string): Origin | undefined {
    return this.lookup(this.state, name)?.origin;
  }

  // -- internals

  /** Fresh state: defaults as `:=`, then every file assignment in order. */
  private build(): State {
    const state: State = { vars: new Map(), order: [] };
    for (const [name, value] of Object.entries(this.defaults)) {
      checkValue(value, DEFAULTS_ORIGIN.file, DEFAULTS_ORIGIN.line);
      this.apply(state, { name, op: ':=', value, ...DEFAULTS_ORIGIN });
    }
    for (const a of this.log) this.apply(state, a);
    return state;
  }

  private lookup(state: State, name: string): Variable | undefined {
    return this.overrides.get(name) ?? state.vars.get(name);
  }

  private apply(state: State, a: Assignment): void {
    // Command-line variables win over file assignments. (In make a file's
    // `override` keyword would beat them; we accept and ignore the keyword.)
    if (this.overrides.has(a.name)) {
      if (!state.order.includes(a.name)) state.order.push(a.name);
      return;
    }
    const origin: Origin = { file: a.file, line: a.line };
    let old = state.vars.get(a.name);
    let next: Variable;
    switch (a.op) {
      case ':=':
      case '::=':
        next = { flavor: 'simple', ...this.expandNow(state, a.name, a.value, origin), origin };
        break;
      case '?=':
        // As in make, a variable set in the environment counts as defined.
        if (old || this.env[a.name] !== undefined) return;
        next = { flavor: 'recursive', value: a.value, undefinedRefs: [], envRefs: [], origin };
        break;
      case '=':
        next = { flavor: 'recursive', value: a.value, undefinedRefs: [], envRefs: [], origin };
        break;
      case '+=': {
        const envValue = this.env[a.name];
        if (!old && envValue !== undefined) {
          // Appending to an environment variable: make imports it as a
          // recursive variable; we keep its text literal (hence `$$`).
          old = { flavor: 'recursive', value: envValue.replace(/\$/g, '$$$$'), undefinedRefs: [], envRefs: [], origin };
        }
        if (!old) {
          next = { flavor: 'recursive', value: a.value, undefinedRefs: [], envRefs: [], origin };
        } else if (old.flavor === 'recursive') {
          next = { ...old, value: joinAppend(old.value, a.value), origin };
        } else {
          const added = this.expandNow(state, a.name, a.value, origin);
          const value = joinAppend(old.value, added.value);
          if (value.length > EXPANSION_LIMITS.valueChars) throw limitError(new LimitError('1 MB'), a.name, origin);
          next = {
            flavor: 'simple',
            value,
            undefinedRefs: union(old.undefinedRefs, added.undefinedRefs),
            envRefs: union(old.envRefs, added.envRefs),
            origin,
          };
        }
        break;
      }
    }
    state.vars.set(a.name, next);
    if (!state.order.includes(a.name)) state.order.push(a.name);
  }

  private expandNow(state: State, name: string, text: string, origin: Origin): Pick<Variable, 'value' | 'undefinedRefs' | 'envRefs'> {
    const ctx = newCtx();
    try {
      const value = this.expand(state, text, ctx);
      return { value, undefinedRefs: [...ctx.undefinedRefs], envRefs: [...ctx.envRefs] };
    } catch (e) {
      if (e instanceof RefError) throw new MakeSyntaxError(e.message, origin.file, origin.line);
      if (e instanceof LimitError) throw limitError(e, name, origin);
      throw e;
    }
  }

  private expand(state: State, text: string, ctx: ExpandCtx): string {
    if (++ctx.depth > EXPANSION_LIMITS.depth) throw new LimitError(`${EXPANSION_LIMITS.depth} nested references`);
    let out = '';
    for (const p of tokenize(text)) {
      if ('lit' in p) out += p.lit;
      else {
        if (++ctx.refs > EXPANSION_LIMITS.references) throw new LimitError(`${EXPANSION_LIMITS.references} references`);
        const name = p.ref.includes('$') ? this.expand(state, p.ref, ctx) : p.ref;
        out += this.valueOf(state, name, ctx);
      }
      if (out.length > EXPANSION_LIMITS.valueChars) throw new LimitError('1 MB');
    }
    ctx.depth--;
    return out;
  }

  private valueOf(state: State, name: string, ctx: ExpandCtx): string {
    if (name === '') return ''; // `$()` is make's idiom for nothing
    const v = this.lookup(state, name);
    if (!v) {
      const envValue = this.env[name];
      // Environment values are taken literally: expanding a `$` in some
      // unrelated env var would be a surprise, not a feature.
      if (envValue !== undefined) {
        ctx.envRefs.add(name);
        return envValue;
      }
      ctx.undefinedRefs.add(name);
      return '';
    }
    if (v.flavor === 'simple') {
      for (const r of v.undefinedRefs) ctx.undefinedRefs.add(r);
      for (const r of v.envRefs) ctx.envRefs.add(r);
      return v.value;
    }
    if (ctx.stack.includes(name)) {
      const chain = [...ctx.stack.slice(ctx.stack.indexOf(name)), name].join(' -> ');
      throw new MakeSyntaxError(
        `recursive variable '${name}' references itself (eventually): ${chain}`,
        v.origin.file,
        v.origin.line,
      );
    }
    ctx.stack.push(name);
    try {
      return this.expand(state, v.value, ctx);
    } finally {
      ctx.stack.pop();
    }
  }
}

/** make's `+=`: one space between, none if either side is empty. */
function joinAppend(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  return `${a} ${b}`;
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])];
}

export interface LoadMakeVariablesOptions extends MakeVariablesOptions {
  /** Command-line style overrides (`--set KEY=VALUE`). */
  overrides?: Record<string, string>;
}

/** Parse `text` and evaluate it: defaults, then the file, then overrides. */
export function loadMakeVariables(text: string, file: string, opts: LoadMakeVariablesOptions = {}): MakeVariables {
  const vars = new MakeVariables(opts);
  vars.assignAll(parseMakeText(text, file));
  for (const [name, value] of Object.entries(opts.overrides ?? {})) vars.override(name, value);
  return vars;
}
