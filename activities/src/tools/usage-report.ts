import type { ToolInput, ToolOutput } from '../../../core/tools/define.js';
import type { usageReportTool } from '../../../core/tools/usage-report.tool.js';
import type { WorkflowToolContext } from './workflow-tool.js';

type Input = ToolInput<typeof usageReportTool>;
type Output = ToolOutput<typeof usageReportTool>;

interface Sums {
  calls: number;
  units: number;
  overageUnits: number;
  errors: number;
  latencyMs: number;
}

/** Checkpoint: where the next page starts (keyset) and the sums so far (plain JSON). */
interface Checkpoint {
  readonly after: { endedAt: string; callId: string } | null;
  readonly pages: number;
  readonly total: Sums;
  readonly byTool: Record<string, Sums>;
  readonly byUser: Record<string, Sums>;
  readonly byDay: Record<string, Sums>;
}

interface Row {
  call_id: string;
  ended_at: Date;
  user_id: string;
  tool: string;
  outcome: string;
  units: number;
  overage: boolean;
  latency_ms: number;
}

/**
 * Walks the organization's usage records in [from, to] in `ended_at` order, one page per
 * query inside the organization's row-level security scope (`ctx.tenantDb`), adding each
 * page to the sums and checkpointing after it.
 */
export async function usageReport(args: Input, ctx: WorkflowToolContext<Checkpoint>): Promise<Output> {
  const from = new Date(`${args.from}T00:00:00Z`);
  const until = new Date(Date.parse(`${args.to}T00:00:00Z`) + 86_400_000);
  const expected = await ctx.tenantDb(async (db) => {
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM usage_records WHERE ended_at >= $1 AND ended_at < $2', [from, until]);
    return Number(rows[0]!.n);
  });
  const totalPages = Math.max(1, Math.ceil(expected / args.pageSize));
  let state: Checkpoint = ctx.checkpoint ?? { after: null, pages: 0, total: zero(), byTool: {}, byUser: {}, byDay: {} };
  for (;;) {
    ctx.throwIfCancelled();
    const after = state.after;
    const rows = await ctx.tenantDb(async (db) =>
      (
        await db.query<Row>(
          `SELECT call_id, ended_at, user_id, tool, outcome, units, overage, latency_ms FROM usage_records
            WHERE ended_at >= $1 AND ended_at < $2 AND ($3::timestamptz IS NULL OR (ended_at, call_id) > ($3, $4))
            ORDER BY ended_at, call_id LIMIT $5`,
          [from, until, after?.endedAt ?? null, after?.callId ?? '', args.pageSize],
        )
      ).rows,
    );
    if (rows.length === 0) break;
    const next: Checkpoint = { ...state, total: { ...state.total }, byTool: { ...state.byTool }, byUser: { ...state.byUser }, byDay: { ...state.byDay } };
    for (const r of rows) {
      add(next.total, r);
      add((next.byTool[r.tool] = { ...(next.byTool[r.tool] ?? zero()) }), r);
      add((next.byUser[r.user_id] = { ...(next.byUser[r.user_id] ?? zero()) }), r);
      const day = r.ended_at.toISOString().slice(0, 10);
      add((next.byDay[day] = { ...(next.byDay[day] ?? zero()) }), r);
    }
    const last = rows.at(-1)!;
    state = { ...next, after: { endedAt: last.ended_at.toISOString(), callId: last.call_id }, pages: state.pages + 1 };
    await ctx.progress({ progress: state.pages, total: Math.max(totalPages, state.pages), message: `read ${state.total.calls.toLocaleString('en-US')} of about ${expected.toLocaleString('en-US')} calls` }, state);
    if (rows.length < args.pageSize) break;
  }
  return {
    orgId: ctx.orgId,
    from: args.from,
    to: args.to,
    total: totals(state.total),
    byTool: Object.entries(state.byTool).map(([tool, s]) => ({ tool, ...totals(s) })).sort((a, b) => b.calls - a.calls),
    byUser: Object.entries(state.byUser).map(([userId, s]) => ({ userId, ...totals(s) })).sort((a, b) => b.calls - a.calls),
    byDay: Object.entries(state.byDay).map(([day, s]) => ({ day, ...totals(s) })).sort((a, b) => a.day.localeCompare(b.day)),
    pages: state.pages,
  };
}

const zero = (): Sums => ({ calls: 0, units: 0, overageUnits: 0, errors: 0, latencyMs: 0 });

function add(s: Sums, r: Row): void {
  s.calls++;
  s.units += r.units;
  if (r.overage) s.overageUnits += r.units;
  if (r.outcome !== 'ok') s.errors++;
  s.latencyMs += r.latency_ms;
}

function totals(s: Sums) {
  return { calls: s.calls, units: s.units, overageUnits: s.overageUnits, errors: s.errors, avgLatencyMs: s.calls ? Math.round((s.latencyMs / s.calls) * 10) / 10 : 0 };
}
