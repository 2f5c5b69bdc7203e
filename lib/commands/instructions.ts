// `instructions`: how to install each host's bundle by hand.
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { instructions as instructionsOf } from '../services/instructions.js';

export async function instructions(args: GlobalArgs): Promise<void> {
  const ctx = loadContext(args);
  const { text, data } = await instructionsOf(ctx);
  ctx.report.result(data, () => text);
}
