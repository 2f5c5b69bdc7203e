// Questions on a terminal (stdin in, stderr out, so stdout stays clean). Each answer is checked on the
// spot and asked again when it is wrong; end of input (Ctrl-D) cancels. Lines typed or pasted ahead
// are queued, not lost.
import { createInterface, type Interface } from 'node:readline';
import { UsageError } from '../errors.js';

export interface Question {
  readonly text: string;
  readonly default?: string;
  /** Error text for a bad answer, or undefined when it is fine. */
  readonly check?: (answer: string) => string | undefined | Promise<string | undefined>;
}

export class Prompter {
  private readonly rl: Interface;
  private readonly queued: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;

  constructor(private readonly input: NodeJS.ReadableStream = process.stdin, private readonly output: NodeJS.WritableStream = process.stderr) {
    this.rl = createInterface({ input, output, terminal: Boolean((output as { isTTY?: boolean }).isTTY) });
    this.rl.on('line', (line) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w(line);
      else this.queued.push(line);
    });
    this.rl.on('close', () => {
      this.ended = true;
      this.waiting?.(undefined);
    });
  }

  private nextLine(): Promise<string | undefined> {
    if (this.queued.length) return Promise.resolve(this.queued.shift());
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  async ask(q: Question): Promise<string> {
    for (;;) {
      this.rl.setPrompt(q.default ? `${q.text} [${q.default}]: ` : `${q.text}: `);
      this.rl.prompt();
      const line = await this.nextLine();
      if (line === undefined) {
        this.output.write('\n');
        throw new UsageError('init: cancelled (end of input); nothing was written');
      }
      const answer = line.trim() === '' && q.default !== undefined ? q.default : line.trim();
      const e = await q.check?.(answer);
      if (!e) return answer;
      this.output.write(`  ${e}\n`);
    }
  }

  async confirm(text: string): Promise<boolean> {
    const a = await this.ask({ text: `${text} [Y/n]`, check: (x) => (/^(y(es)?|no?|)$/i.test(x) ? undefined : 'answer y or n') });
    return !/^n/i.test(a);
  }

  close(): void {
    this.rl.close();
    // The questions are over: release the terminal, so that nothing can keep the process waiting on it.
    if (this.input === process.stdin) process.stdin.destroy();
  }
}
