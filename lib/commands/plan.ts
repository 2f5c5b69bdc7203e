// `plan`: the steps a build would run now and why, as a list or as a replayable shell script.
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { showPlan } from '../services/plan.js';

export async function plan(args: GlobalArgs, format: 'text' | 'sh'): Promise<void> {
  await showPlan(loadContext(args), format);
}
