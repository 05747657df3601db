import type { UsageRecord } from '../../core/usage.js';
import type { Db } from '../tenancy/db-context.js';

/**
 * Inserts usage records, idempotently: a record whose call id is already stored is skipped,
 * so redelivery (a retried batch, a stream entry read again after a crash) never counts a
 * call twice. Records of organizations deleted meanwhile are dropped rather than failing
 * the batch. Returns how many rows were new. Runs in a system transaction (`withSystem`).
 */
export async function insertUsageRecords(db: Db, records: readonly UsageRecord[]): Promise<number> {
  if (records.length === 0) return 0;
  const result = await db.query(
    `INSERT INTO usage_records (call_id, request_id, org_id, user_id, key_id, tool, tier, outcome, units, overage,
                                cache_hit, latency_ms, transport, started_at, ended_at)
     SELECT r."callId", r."requestId", r."orgId", r."userId", r."keyId", r.tool, r.tier, r.outcome, r.units, r.overage,
            r."cacheHit", r."latencyMs", r.transport, to_timestamp(r."startedAt" / 1000.0), to_timestamp(r."endedAt" / 1000.0)
       FROM jsonb_to_recordset($1::jsonb) AS r(
              "callId" text, "requestId" text, "orgId" text, "userId" text, "keyId" text, tool text, tier text, outcome text,
              units integer, overage boolean, "cacheHit" boolean, "latencyMs" integer, transport text, "startedAt" bigint, "endedAt" bigint)
      WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = r."orgId")
     ON CONFLICT (call_id) DO NOTHING`,
    [JSON.stringify(records)],
  );
  return result.rowCount ?? 0;
}

/** One organization's usage in a time range, grouped by day, user and tool (from the rollups). */
export interface UsageSummaryRow {
  readonly day: string;
  readonly userId: string;
  readonly tool: string;
  readonly calls: number;
  readonly okCalls: number;
  readonly errorCalls: number;
  readonly units: number;
  readonly overageUnits: number;
  readonly avgLatencyMs: number;
  readonly maxLatencyMs: number;
}

/**
 * Rolls raw records up per organization, day, user and tool for every day that received a
 * record at or after `since` (ingestion time, so a late record of an old day is counted
 * too): each affected day is recomputed whole from the raw records, so running it again (or
 * concurrently) converges on the same rows. Callers pass a `since` with a margin over their
 * previous run (a batch's rows carry its transaction's start time, not its commit time).
 */
export async function rollUpUsage(db: Db, since: Date): Promise<{ days: number; rows: number }> {
  const result = await db.query<{ day: string }>(
    `WITH touched AS (
       SELECT DISTINCT org_id, (ended_at AT TIME ZONE 'UTC')::date AS day FROM usage_records WHERE ingested_at >= $1
     ), recomputed AS (
       SELECT r.org_id, (r.ended_at AT TIME ZONE 'UTC')::date AS day, r.user_id, r.tool,
              count(*)::int AS calls,
              count(*) FILTER (WHERE r.outcome = 'ok')::int AS ok_calls,
              count(*) FILTER (WHERE r.outcome = 'failed')::int AS error_calls,
              sum(r.units)::bigint AS units,
              coalesce(sum(r.units) FILTER (WHERE r.overage), 0)::bigint AS overage_units,
              sum(r.latency_ms)::bigint AS latency_ms_sum,
              max(r.latency_ms)::int AS latency_ms_max
         FROM usage_records r
         JOIN touched t ON t.org_id = r.org_id
        WHERE r.ended_at >= t.day::timestamp AT TIME ZONE 'UTC'
          AND r.ended_at < (t.day + 1)::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1, 2, 3, 4
     )
     INSERT INTO usage_daily AS d (org_id, day, user_id, tool, calls, ok_calls, error_calls, units, overage_units, latency_ms_sum, latency_ms_max)
     SELECT * FROM recomputed
     ON CONFLICT (org_id, day, user_id, tool) DO UPDATE
       SET calls = excluded.calls, ok_calls = excluded.ok_calls, error_calls = excluded.error_calls, units = excluded.units,
           overage_units = excluded.overage_units, latency_ms_sum = excluded.latency_ms_sum, latency_ms_max = excluded.latency_ms_max,
           updated_at = now()
     RETURNING d.day::text AS day`,
    [since],
  );
  return { days: new Set(result.rows.map((r) => r.day)).size, rows: result.rowCount ?? 0 };
}

/** The rollups of the organization in `db`'s tenant context, newest day first. */
export async function usageSummary(db: Db, range: { from: string; to: string; userId?: string }): Promise<UsageSummaryRow[]> {
  const { rows } = await db.query<{
    day: string;
    user_id: string;
    tool: string;
    calls: number;
    ok_calls: number;
    error_calls: number;
    units: string;
    overage_units: string;
    latency_ms_sum: string;
    latency_ms_max: number;
  }>(
    `SELECT day::text AS day, user_id, tool, calls, ok_calls, error_calls, units, overage_units, latency_ms_sum, latency_ms_max
       FROM usage_daily
      WHERE day BETWEEN $1::date AND $2::date AND ($3::text IS NULL OR user_id = $3)
      ORDER BY day DESC, user_id, tool`,
    [range.from, range.to, range.userId ?? null],
  );
  return rows.map((r) => ({
    day: r.day,
    userId: r.user_id,
    tool: r.tool,
    calls: r.calls,
    okCalls: r.ok_calls,
    errorCalls: r.error_calls,
    units: Number(r.units),
    overageUnits: Number(r.overage_units),
    avgLatencyMs: r.calls > 0 ? Math.round(Number(r.latency_ms_sum) / r.calls) : 0,
    maxLatencyMs: r.latency_ms_max,
  }));
}

/** Successful units per user (and the organization's total) since `from`, from the raw records. */
export async function unitsSince(db: Db, orgId: string, from: Date): Promise<{ org: number; users: Map<string, number> }> {
  const { rows } = await db.query<{ user_id: string; units: string }>(
    `SELECT user_id, sum(units)::bigint AS units FROM usage_records WHERE org_id = $1 AND ended_at >= $2 GROUP BY user_id`,
    [orgId, from],
  );
  const users = new Map(rows.map((r) => [r.user_id, Number(r.units)]));
  let org = 0;
  for (const n of users.values()) org += n;
  return { org, users };
}

/** The organization's usage over a range of UTC days: totals and one row per day, user and tool. */
export interface UsageReport {
  readonly from: string;
  readonly to: string;
  /** Rollups include every call ingested before this time (ISO), or null before the first rollup. */
  readonly asOf: string | null;
  readonly totals: { calls: number; okCalls: number; errorCalls: number; units: number; overageUnits: number };
  readonly days: UsageSummaryRow[];
}

export async function usageReport(db: Db, range: { from: string; to: string; userId?: string }): Promise<UsageReport> {
  const days = await usageSummary(db, range);
  const { rows } = await db.query<{ at: Date | null }>(`SELECT at FROM job_watermarks WHERE name = 'usage-maintenance'`);
  const totals = { calls: 0, okCalls: 0, errorCalls: 0, units: 0, overageUnits: 0 };
  for (const d of days) {
    totals.calls += d.calls;
    totals.okCalls += d.okCalls;
    totals.errorCalls += d.errorCalls;
    totals.units += d.units;
    totals.overageUnits += d.overageUnits;
  }
  return { from: range.from, to: range.to, asOf: rows[0]?.at?.toISOString() ?? null, totals, days };
}
