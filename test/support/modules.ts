// Runs the CLI with module-log.ts preloaded and returns the packages (node_modules names) it loaded.
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { CliResult, TestProject } from './project.js';

const PRELOAD = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'module-log.js')).href;

export function packagesLoaded(project: TestProject, args: string[]): CliResult & { packages: Set<string>; urls: string[] } {
  const log = path.join(os.tmpdir(), `ptr-modules-${randomBytes(6).toString('hex')}.log`);
  try {
    const r = project.cli(args, { env: { ...project.env, PTR_MODULE_LOG: log, NODE_OPTIONS: `--import=${PRELOAD}` } });
    const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const packages = new Set(urls.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => p !== undefined));
    return { ...r, packages, urls };
  } finally {
    rmSync(log, { force: true });
  }
}
