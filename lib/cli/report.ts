// What the user sees: progress lines, warnings, results; quiet, verbose, JSON and colour rules in one place.
// Progress goes to stderr so that stdout stays clean for --json and `plan --format sh`.
import type { RunEvent, RunResult } from '../runner/runner.js';
import { commandOf, type Step } from '../plan/step.js';

export interface ReportOptions {
  quiet: boolean;
  verbose: boolean;
  json: boolean;
}

/** Where progress is written; process.stderr unless a test hands in its own. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** https://no-color.org: colour only on a terminal, and never when NO_COLOR is set to anything but "". */
export function colorWanted(stream: ProgressStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** A step the user thinks of as a step: a command. Rendered files show up when written; bundle copies only with -v. */
const isCommand = (step: Step) => commandOf(step) !== undefined;
const showWritten = (step: Step) => step.kind === 'write';

type State = 'run' | 'up to date' | 'failed' | 'wrote';

export class Reporter {
  private readonly out: ProgressStream;
  private readonly tty: boolean;
  private readonly color: boolean;
  private readonly running = new Map<Step, number>();
  private statusShown = false;
  private ticker: NodeJS.Timeout | undefined;
  private readonly started = performance.now();
  /** Outcomes seen so far; the summary is made from them, also when a run fails halfway. */
  counts = { ran: 0, upToDate: 0, failed: 0, commands: 0 };

  constructor(readonly opts: ReportOptions, out: ProgressStream = process.stderr, env: NodeJS.ProcessEnv = process.env) {
    this.out = out;
    this.tty = Boolean(out.isTTY);
    this.color = colorWanted(out, env);
  }

  private paint(code: string, text: string): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** Writes whole lines; on a terminal the live status line is taken away first and put back after. */
  private line(text: string): void {
    this.clearStatus();
    this.out.write(`${text}\n`);
    this.drawStatus();
  }

  info(line: string): void {
    if (!this.opts.quiet) this.line(line);
  }

  detail(line: string): void {
    if (this.opts.verbose && !this.opts.quiet) this.line(line);
  }

  warn(line: string): void {
    if (!this.opts.quiet) this.line(`${this.paint('33', 'warning:')} ${line}`);
  }

  error(line: string): void {
    this.clearStatus();
    this.out.write(`${this.paint('31', 'postfix-tls-relay:')} ${line}\n`);
  }

  /** Whether what is printed names each step (the steps up to date too): not with --quiet alone. */
  get listsSteps(): boolean {
    return !this.opts.quiet || this.opts.json;
  }

  /** Result data: JSON on stdout with --json, otherwise the text form (nothing with --quiet). */
  result(data: unknown, text: () => string): void {
    if (this.opts.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else if (!this.opts.quiet) {
      const t = text();
      if (t) process.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
    }
  }

  /** One line per step with its state and duration: symbols and colour on a terminal, words otherwise. */
  private stepLine(state: State, step: Step, ms?: number): string {
    const time = ms === undefined ? '' : ` (${secs(ms)})`;
    if (!this.tty) return `${state.padEnd(10)}  ${step.title}${time}`;
    const mark = { run: this.paint('32', '✓'), wrote: this.paint('32', '✓'), 'up to date': this.paint('2', '·'), failed: this.paint('31', '✗') }[state];
    const word = state === 'failed' ? this.paint('31', state.padEnd(10)) : state === 'up to date' ? this.paint('2', state) : state.padEnd(10);
    return `${mark} ${word}  ${step.title}${time && this.paint('2', time)}`;
  }

  onEvent = (e: RunEvent): void => {
    switch (e.type) {
      case 'start': {
        this.running.set(e.step, performance.now());
        const cmd = commandOf(e.step);
        if (cmd) this.info(this.paint('2', `+ ${cmd.display}`));
        else this.detail(this.paint('2', `  ${e.step.title}: ${e.reason}`));
        this.startTicker();
        break;
      }
      case 'skip':
        this.counts.upToDate++;
        if (isCommand(e.step)) this.info(this.stepLine('up to date', e.step));
        else this.detail(this.stepLine('up to date', e.step));
        break;
      case 'done':
        this.running.delete(e.step);
        if (e.changed) this.counts.ran++;
        else this.counts.upToDate++;
        if (isCommand(e.step)) {
          this.counts.commands++;
          this.info(this.stepLine('run', e.step, e.ms));
        } else if (e.changed && showWritten(e.step)) this.info(this.stepLine('wrote', e.step, e.ms));
        else this.detail(this.stepLine(e.changed ? 'wrote' : 'up to date', e.step, e.changed ? e.ms : undefined));
        break;
      case 'fail':
        this.running.delete(e.step);
        this.counts.failed++;
        if (isCommand(e.step)) this.counts.commands++;
        this.line(this.stepLine('failed', e.step, e.ms)); // even with --quiet: it is part of the error
        break;
    }
    if (this.running.size === 0) this.stopTicker();
  };

  /** Final line: N run, M up to date (, K failed), time. Without a result it is made from the events seen. */
  summary(r?: RunResult): void {
    this.stopTicker();
    const ms = r?.ms ?? performance.now() - this.started;
    const c = this.counts;
    let text: string;
    if (c.ran === 0 && c.failed === 0) text = `nothing to do: ${c.upToDate} step(s) up to date, ${secs(ms)}`;
    else {
      const parts = [`${c.ran} run`, `${c.upToDate} up to date`];
      if (c.failed) parts.push(`${c.failed} failed`);
      text = `${parts.join(', ')} (${c.commands} command(s)), ${secs(ms)}`;
    }
    this.info(this.paint(c.failed ? '31' : '1', text));
  }

  // The live status line (terminal only): what is running right now and for how long.
  private statusText(): string {
    const now = performance.now();
    const items = [...this.running.entries()].filter(([s]) => isCommand(s));
    if (items.length === 0) return '';
    const [first, t0] = items[0]!;
    const more = items.length > 1 ? ` (+${items.length - 1} more)` : '';
    const text = `… ${first.title} ${secs(now - t0)}${more}`;
    const width = Math.max(20, (this.out.columns || 80) - 1); // 0 when the terminal size is unknown
    return text.length > width ? `${text.slice(0, width - 1)}…` : text;
  }

  private drawStatus(): void {
    if (!this.tty || this.opts.quiet) return;
    const text = this.statusText();
    if (!text) return;
    this.out.write(this.paint('2', text));
    this.statusShown = true;
  }

  private clearStatus(): void {
    if (!this.statusShown) return;
    this.out.write('\r\x1b[K');
    this.statusShown = false;
  }

  private startTicker(): void {
    if (!this.tty || this.opts.quiet || this.ticker) return;
    // Long steps (an RSA 4096 CA key takes seconds) show their time growing.
    this.ticker = setInterval(() => {
      this.clearStatus();
      this.drawStatus();
    }, 200);
    this.ticker.unref();
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    this.clearStatus();
  }
}
