// What the tool wrote: for each rendered file its recipe (template + settings), and for each generated
// file its content digest with the identity (inode, size, times) it had when that digest was taken.
// Kept in .postfix-tls-relay/state.json. A file whose identity is unchanged need not be read again to
// know it is still what the tool wrote; one whose identity changed is hashed once and compared.
import { createHash } from 'node:crypto';
import type { FileStats } from '../files/tree.js';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { STATE_FILE } from '../files/layout.js';
import { loadStateFile, RECORDS } from '../files/state-files.js';

export type Recipes = Record<string, string>;

/** A file as the tool left it. */
export interface OutputRecord {
  sha256: string;
  size: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
}

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function identityOf(st: FileStats): Omit<OutputRecord, 'sha256'> {
  return { size: st.size, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

const sameIdentity = (r: OutputRecord, st: FileStats) =>
  r.size === st.size && r.ino === st.ino && r.mtimeMs === st.mtimeMs && r.ctimeMs === st.ctimeMs;

export type Verdict = 'same' | 'changed' | 'unrecorded';

export class Records {
  private dirty = false;

  private constructor(
    readonly recipes: Recipes,
    private readonly outputs: Record<string, OutputRecord>,
    /** Kept files accepted as made from an input's content (an adopted CA certificate and its new config). */
    private readonly accepted: Record<string, Record<string, string>>,
    /** Checks that passed on files with these identities (the trust chain per host): not repeated while they hold. */
    private readonly checked: Record<string, string>,
  ) {}

  static load(projectDir: string): Records {
    // Missing or of the wrong shape: every generated file is compared by content once.
    const data = loadStateFile(projectDir, RECORDS);
    return new Records({ ...data?.recipes }, { ...data?.outputs }, { ...data?.accepted }, { ...data?.checked });
  }

  wasChecked(tag: string, identities: string): boolean {
    return this.checked[tag] === identities;
  }

  markChecked(tag: string, identities: string): void {
    if (this.checked[tag] === identities) return;
    this.checked[tag] = identities;
    this.dirty = true;
  }

  /**
   * `output` is kept as it is although `input` (with this content) is newer: it counts as made from it
   * until either changes (adoption writes a new CA request config for the CA certificate it keeps).
   */
  accept(output: string, input: string, inputData: Buffer): void {
    this.accepted[output] = { ...this.accepted[output], [input]: sha256(inputData) };
    this.dirty = true;
  }

  isAccepted(output: string, input: string, read: () => Buffer | undefined): boolean {
    const want = this.accepted[output]?.[input];
    if (want === undefined) return false;
    const data = read();
    return data !== undefined && sha256(data) === want;
  }

  /** The output was made again: what it was accepted as no longer matters. */
  remade(output: string): void {
    if (!(output in this.accepted)) return;
    delete this.accepted[output];
    this.dirty = true;
  }

  setRecipe(output: string, recipe: string): void {
    if (this.recipes[output] === recipe) return;
    this.recipes[output] = recipe;
    this.dirty = true;
  }

  record(output: string, data: Buffer, st: FileStats): void {
    const next = { sha256: sha256(data), ...identityOf(st) };
    const was = this.outputs[output];
    if (was && was.sha256 === next.sha256 && sameIdentity(was, st)) return;
    this.outputs[output] = next;
    this.dirty = true;
  }

  get(output: string): OutputRecord | undefined {
    return this.outputs[output];
  }

  /**
   * Is the file (with these stats) what the tool wrote? An unchanged identity answers without reading;
   * otherwise `read` is called once, and a file found unchanged is remembered under its new identity.
   */
  verify(output: string, st: FileStats, read: () => Buffer | undefined): Verdict {
    const r = this.outputs[output];
    if (!r) return 'unrecorded';
    if (sameIdentity(r, st)) return 'same';
    const data = read();
    if (data === undefined || sha256(data) !== r.sha256) return 'changed';
    this.outputs[output] = { sha256: r.sha256, ...identityOf(st) };
    this.dirty = true;
    return 'same';
  }

  forget(output: string): void {
    if (!(output in this.outputs)) return;
    delete this.outputs[output];
    this.dirty = true;
  }

  get changed(): boolean {
    return this.dirty;
  }

  save(projectDir: string): void {
    if (!this.dirty) return;
    // One line, in the order entries were made: a fleet's records run to megabytes, read on every run,
    // never read by people (sorting them cost a fleet's add-client more than the rest of the save).
    const data = { recipes: this.recipes, outputs: this.outputs, accepted: this.accepted, checked: this.checked };
    writeFileAtomic(path.join(projectDir, STATE_FILE), `${JSON.stringify(data)}\n`, 0o600);
    this.dirty = false;
  }
}
