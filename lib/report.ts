// What the user sees: progress lines, warnings, results; quiet, verbose, JSON and colour rules in one place.
import type { RunEvent, RunResult } from './runner.js';
import { commandOf } from './steps.js';

export interface ReportOptions {
  quiet: boolean;
  verbose: boolean;
  json: boolean;
}

const useColor = (stream: NodeJS.WriteStream) => Boolean(stream.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';

export class Reporter {
  private readonly color = useColor(process.stderr);
  private readonly tty = Boolean(process.stderr.isTTY);
  counts = { ran: 0, skipped: 0, unchanged: 0 };

  constructor(readonly opts: ReportOptions) {}

  private paint(code: string, text: string): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** Progress and information go to stderr, so stdout stays clean for --json and plan --format sh. */
  info(line: string): void {
    if (!this.opts.quiet) process.stderr.write(`${line}\n`);
  }

  detail(line: string): void {
    if (this.opts.verbose && !this.opts.quiet) process.stderr.write(`${line}\n`);
  }

  warn(line: string): void {
    if (!this.opts.quiet) process.stderr.write(`${this.paint('33', 'warning:')} ${line}\n`);
  }

  error(line: string): void {
    process.stderr.write(`${this.paint('31', 'postfix-tls-relay:')} ${line}\n`);
  }

  /** Result data: JSON on stdout with --json, otherwise the text form. */
  result(data: unknown, text: () => string): void {
    if (this.opts.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else if (!this.opts.quiet) {
      const t = text();
      if (t) process.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
    }
  }

  onEvent = (e: RunEvent): void => {
    const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    switch (e.type) {
      case 'start': {
        const cmd = commandOf(e.step);
        if (cmd) this.info(this.paint('2', `+ ${cmd.display}`));
        else this.detail(`  ${e.step.title}: ${e.reason}`);
        break;
      }
      case 'skip':
        this.counts.skipped++;
        this.detail(this.paint('2', `  up to date  ${e.step.title}`));
        break;
      case 'done':
        if (e.changed) this.counts.ran++;
        else this.counts.unchanged++;
        if (commandOf(e.step)) this.info(`  ${this.paint('32', 'done')}  ${e.step.title} (${secs(e.ms)})`);
        else this.detail(`  ${e.changed ? 'wrote' : 'unchanged'}  ${e.step.title}`);
        break;
      case 'fail':
        this.info(`  ${this.paint('31', 'FAILED')}  ${e.step.title} (${secs(e.ms)})`);
        break;
    }
  };

  summary(r: RunResult): void {
    const made = r.outcomes.filter((o) => o.state === 'ran').length;
    const upToDate = r.outcomes.filter((o) => o.state === 'skipped' || o.state === 'unchanged').length;
    const line = `${made} made, ${upToDate} up to date, ${r.commands.length} command(s) run, ${(r.ms / 1000).toFixed(2)} s`;
    if (this.tty) this.info(this.paint('1', line));
    else this.info(line);
  }
}
