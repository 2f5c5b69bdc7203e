// Every file we write appears whole or not at all: temp file in the same directory, fsync, rename.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs';
import path from 'node:path';

export function tmpName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
}

export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${tmpName(file)}.${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  chmodSync(tmp, mode); // whatever the umask
  renameSync(tmp, file);
}

/** Flushes a file another program wrote, before we rename it into place. */
export function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
