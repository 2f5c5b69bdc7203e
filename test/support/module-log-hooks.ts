// Module hooks of module-log.ts (they run on the loader thread): record each loaded URL.
import { appendFileSync } from 'node:fs';
import type { LoadHook } from 'node:module';

export const load: LoadHook = (url, context, next) => {
  appendFileSync(process.env.PTR_MODULE_LOG!, `${url}\n`);
  return next(url, context);
};
