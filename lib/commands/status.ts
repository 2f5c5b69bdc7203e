// `status`: the table (or --json); with --check, exit 1 when anything needs attention, for cron and monitoring.
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { collectStatus, keepLearned } from '../services/status.js';
import { statusTable } from '../services/status-table.js';
import { readProjectState } from '../state/project.js';
import { integrityProblems } from '../services/integrity.js';

export interface StatusArgs extends GlobalArgs {
  check?: boolean;
  warnDays?: number;
  crlWarnDays?: number;
}

export async function status(args: StatusArgs): Promise<number> {
  const ctx = loadContext(args);
  const state = readProjectState(ctx.settings);
  const st = collectStatus(state, Date.now(), { warnDays: args.warnDays, crlWarnDays: args.crlWarnDays });
  // --check also fails on every state in which build or deploy would refuse or make something else.
  if (args.check) st.problems = [...new Set([...st.problems, ...integrityProblems(ctx.settings, state)])];
  ctx.report.result(st, () => statusTable(st));
  await keepLearned(state);
  if (!args.check || st.problems.length === 0) return 0;
  // The text table lists the problems already; -q and --json runs get them on stderr, one per line.
  if (args.quiet || args.json) for (const p of st.problems) ctx.report.error(p);
  else ctx.report.error(`status --check: ${st.problems.length} problem(s)`);
  return 1;
}
