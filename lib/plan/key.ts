// What a plain build's plan is made from besides the project's files: the settings and the tool itself.
// With the trees' digest (state/disk.ts) it tells a build that nothing can have become stale since the
// last run that found everything up to date, without making the plan and asking about each step.
import { createHash } from 'node:crypto';
import { toolIdentity } from '../files/assets.js';
import type { Settings } from '../settings/index.js';

export function planKey(s: Settings): string {
  const { warnings: _, ...what } = s; // warnings are said, not built
  return createHash('sha256').update(JSON.stringify(what)).update('\0').update(toolIdentity()).digest('hex');
}
