// settings.mk read with bounds: a regular file (a FIFO or a device would block every command or never
// end; it is opened without blocking and refused before a byte is read), of a sane size, and UTF-8
// wherever it holds more than a comment (a subject in Latin-1 would end up as U+FFFD in a certificate).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { UsageError } from '../errors.js';

/** No settings file of a real setup comes near this (a thousand clients' names are some 30 kB). */
export const MAX_SETTINGS_BYTES = 4 * 1024 * 1024;

/** The file's text; `shown` names it in every error. */
export function readSettingsFile(file: string, shown: string): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for ever.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${shown}: settings file not found; create it (postfix-tls-relay init) or name another with -f FILE`);
    throw new UsageError(`${shown}: cannot read the settings file (${code}); check its permissions`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'a device';
      throw new UsageError(`${shown}: ${kind}, not a regular file; settings.mk must be a regular file (replace it with one)`);
    }
    if (st.size > MAX_SETTINGS_BYTES) {
      throw new UsageError(`${shown}: ${st.size} bytes, more than a settings file can hold (${MAX_SETTINGS_BYTES / 1024 / 1024} MB); is it the right file?`);
    }
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
    }
    return utf8Text(buf.subarray(0, n), shown);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${shown}: cannot read the settings file (${(err as NodeJS.ErrnoException).code}); check its permissions`);
  } finally {
    closeSync(fd);
  }
}

/**
 * The text of `buf`: bytes that are not UTF-8 are refused on any line where they are more than a
 * comment (they would reach a subject or a path as U+FFFD); in a comment they are left alone.
 */
export function utf8Text(buf: Buffer, shown: string): string {
  if (isUtf8(buf)) return buf.toString('utf8');
  let start = 0;
  for (let line = 1; start <= buf.length; line++) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    const bytes = buf.subarray(start, end);
    if (!isUtf8(bytes)) {
      const hash = bytes.indexOf(0x23); // '#': what follows is a comment (an escaped \# is rare enough to refuse)
      const before = hash < 0 ? bytes : bytes.subarray(0, hash);
      if (!isUtf8(before) || (hash > 0 && bytes[hash - 1] === 0x5c)) {
        throw new UsageError(`${shown}:${line}: not valid UTF-8 (outside a comment); save the file as UTF-8`);
      }
    }
    start = end + 1;
  }
  return buf.toString('utf8');
}
