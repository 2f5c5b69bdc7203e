// `build`: bring every file up to date (with -n: show what would run).
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { build as buildProject } from '../services/build.js';
import { showPlan } from '../services/plan.js';

export async function build(args: GlobalArgs): Promise<void> {
  const ctx = loadContext(args);
  if (args.dryRun) await showPlan(ctx, 'text');
  else await buildProject(ctx);
}
