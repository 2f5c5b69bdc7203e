// Preload (`node --import <this file's URL>`) that lists every module a process loads, one URL a line,
// in the file named by PTR_MODULE_LOG: ES modules through a load hook, CommonJS ones from the
// require cache at exit. Used to check what a run loads, without timing anything.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const log = process.env.PTR_MODULE_LOG;
if (log) {
  register('./module-log-hooks.js', import.meta.url);
  process.on('exit', () => {
    const cjs = Object.keys(createRequire(import.meta.url).cache).map((f) => `${pathToFileURL(f).href}\n`);
    appendFileSync(log, cjs.join(''));
  });
}
