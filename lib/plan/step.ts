// The plan is a list of steps; each declares what it reads and what it writes, like a make rule.
import type { Command } from '../programs/command.js';
import type { TemplateRef } from '../files/render.js';
import type { ProjectState } from '../state/project.js';

interface StepBase {
  /** Stable identifier, e.g. "ca-key" or "cert:mailhost.example.org". */
  readonly id: string;
  /** One line for progress output. */
  readonly title: string;
  /** Files (relative to the project dir) whose modification makes this step stale. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Files that must exist first but whose changes do not make this step stale (the CA database). */
  readonly after?: readonly string[];
  /** Steps with the same lock run one at a time, in plan order (the CA database). */
  readonly serial?: string;
  /** Run now whatever the file times, for this reason (renew, revoke): an explicit request, not staleness. */
  readonly force?: string;
}

/** Runs a command that writes `tmp`; the runner then renames it to `output`. */
export interface ExecStep extends StepBase {
  readonly kind: 'exec';
  readonly command: Command;
  readonly tmp: string;
  readonly output: string;
  readonly mode: number;
  /** Keys: made only when missing, never replaced. */
  readonly createOnly: boolean;
}

/** Writes a file rendered from a template. Fresh when its recipe (template + context) is unchanged. */
export interface WriteStep extends StepBase {
  readonly kind: 'write';
  readonly output: string;
  readonly mode: number;
  readonly template: TemplateRef;
  /** Plain data the template sees; hashed to detect changed settings without rendering. */
  readonly context: Record<string, unknown>;
  /** Only written when missing (the CA database files). */
  readonly createOnly: boolean;
  /** Shell that recomputes the file where its content depends on files made earlier in the run. */
  readonly shell?: string;
  /** Extra data computed at render time from the project state as the run has left it (e.g. fingerprints). */
  readonly derive?: (state: ProjectState) => Record<string, unknown>;
}

/** Copies a file into a host's bundle. */
export interface CopyStep extends StepBase {
  readonly kind: 'copy';
  readonly source: string;
  readonly output: string;
  readonly mode: number;
}

/**
 * Runs a command that changes files in place instead of writing one new file (`openssl ca -revoke` and
 * `-valid` edit the CA database). Planned only when wanted, so it always carries its `force` reason.
 */
export interface ActionStep extends StepBase {
  readonly kind: 'action';
  readonly command: Command;
  readonly force: string;
}

export type Step = ExecStep | WriteStep | CopyStep | ActionStep;

/** The command a step executes, if it executes one. */
export function commandOf(step: Step): Command | undefined {
  return step.kind === 'exec' || step.kind === 'action' ? step.command : undefined;
}
