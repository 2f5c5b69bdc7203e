// What every command starts from: the global options turned into settings and a reporter.
import path from 'node:path';
import { Reporter } from './report.js';
import { loadSettings, type Settings } from '../settings/index.js';
import { checkProjectTop } from '../files/ownership.js';
import { onStateFileNote } from '../files/state-files.js';

export interface GlobalArgs {
  dir: string;
  settings?: string;
  set?: string[];
  quiet: boolean;
  verbose: boolean;
  json: boolean;
  dryRun: boolean;
  jobs?: number;
}

export interface Context {
  args: GlobalArgs;
  projectDir: string;
  settings: Settings;
  report: Reporter;
}

export function makeReporter(args: GlobalArgs): Reporter {
  return new Reporter({ quiet: args.quiet, verbose: args.verbose, json: args.json });
}

export function loadContext(args: GlobalArgs, report = makeReporter(args)): Context {
  onStateFileNote((line) => report.detail(line)); // a dropped cache, at -v
  const projectDir = path.resolve(args.dir);
  // Before anything in it is read: a project another user can change is never built or shipped (what is
  // in its trees is checked where they are scanned, with the project state).
  checkProjectTop(projectDir, args.settings);
  const settings = loadSettings({ projectDir, settingsFile: args.settings, overrides: args.set ?? [] });
  for (const w of settings.warnings) report.warn(w);
  return { args, projectDir, settings, report };
}
