// One build per project at a time: the CA database must never see two writers.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { RunError } from './errors.js';
import { LOCK_FILE } from './layout.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function acquireLock(projectDir: string): () => void {
  const file = path.join(projectDir, LOCK_FILE);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return () => {
        if (!released) rmSync(file, { force: true });
        released = true;
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid) && pid !== process.pid) {
        throw new RunError(
          `${path.relative(process.cwd(), file) || file}: another postfix-tls-relay (pid ${pid}) is working in this project; wait for it to finish and run again`,
        );
      }
      rmSync(file, { force: true }); // left by a killed run
    }
  }
  throw new RunError(`${file}: cannot take the project lock; remove the file if no postfix-tls-relay is running`);
}
