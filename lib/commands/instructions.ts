// `instructions`: how to install each host's bundle by hand.
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { instructions as instructionsOf } from '../services/instructions.js';

export interface InstructionsArgs extends GlobalArgs {
  dns?: boolean;
  resolver?: string;
}

export async function instructions(args: InstructionsArgs): Promise<void> {
  const ctx = loadContext(args);
  const { text, data } = await instructionsOf(ctx, args.dns || args.resolver !== undefined ? { resolver: args.resolver } : undefined);
  ctx.report.result(data, () => text);
}
