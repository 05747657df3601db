import { billingPeriod, calendarPeriods, quotaFields } from '../../core/admission/levels.js';
import { redisKeys } from '../../core/redis-keys.js';
import type { UsageActivities, UsageWindow } from '../../core/temporal/contracts.js';
import { TOOL_CATALOG } from '../../core/tools/catalog.js';
import type { Pool } from '../../platform/pg/pool.js';
import { raiseQuotas, registerScripts, type RedisLike } from '../../platform/redis/commands.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { rollUpUsage } from '../../platform/usage/usage-store.js';

const WATERMARK = 'usage-maintenance';
/** Re-read this much before the watermark: a batch's rows carry its transaction's start time. */
const MARGIN_MS = 5 * 60_000;
const DAY_MS = 86_400_000;
const EXPENSIVE_TOOLS = TOOL_CATALOG.filter((t) => t.group === 'expensive').map((t) => t.name);

/**
 * Usage maintenance, run by a Temporal Schedule: daily rollups per organization, user and
 * tool, and reconciliation of Redis quota counters against Postgres. Every step is
 * idempotent, so a retried activity or an overlapping run converges on the same state.
 */
export function createUsageActivities(deps: { pool: Pool; redis: RedisLike }): UsageActivities {
  const redis = registerScripts(deps.redis);
  return {
    async usageWindow(): Promise<UsageWindow> {
      const { rows } = await deps.pool.query<{ at: Date | null; now: Date }>(`SELECT (SELECT at FROM job_watermarks WHERE name = $1) AS at, now() AS now`, [WATERMARK]);
      const row = rows[0]!;
      const since = row.at ? new Date(row.at.getTime() - MARGIN_MS) : new Date(0);
      return { since: since.toISOString(), until: row.now.toISOString() };
    },

    rollUpUsage(window: UsageWindow) {
      return withSystem(deps.pool, (db) => rollUpUsage(db, new Date(window.since)));
    },

    async reconcileQuotas(window: UsageWindow) {
      const now = Date.now();
      const today = calendarPeriods(now);
      const dayStart = new Date(now - (DAY_MS - today.msToDayEnd));
      // Per organization with new usage, units per user over its current billing period and
      // today: raw records for the period's first (partial) day and for today, the daily
      // rollups (just brought up to date) for the whole days in between, so a month-old
      // period costs a few rollup rows instead of a month of records.
      const rows = await withSystem(deps.pool, async (db) =>
        (
          await db.query<{ org_id: string; period_start: Date; period_end: Date; user_id: string; period_units: string; day_units: string | null; day_expensive_units: string | null }>(
            `WITH touched AS (SELECT DISTINCT org_id FROM usage_records WHERE ingested_at >= $1),
             subs AS (
               SELECT s.org_id, s.current_period_start AS a, s.current_period_end AS e,
                      (date_trunc('day', s.current_period_start AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC' AS b
                 FROM subscriptions s JOIN touched USING (org_id)
             ),
             raw_rows AS (
               SELECT r.org_id, r.user_id, r.units, r.tool, false AS today, true AS in_period
                 FROM subs s JOIN usage_records r ON r.org_id = s.org_id AND r.ended_at >= s.a AND r.ended_at < least(s.b, $2)
               UNION ALL
               SELECT r.org_id, r.user_id, r.units, r.tool, true, r.ended_at >= s.a
                 FROM subs s JOIN usage_records r ON r.org_id = s.org_id AND r.ended_at >= $2
             ),
             raw AS (
               SELECT org_id, user_id,
                      sum(units) FILTER (WHERE in_period) AS period_units,
                      sum(units) FILTER (WHERE today) AS day_units,
                      sum(units) FILTER (WHERE today AND tool = ANY ($3)) AS day_expensive_units
                 FROM raw_rows GROUP BY 1, 2
             ),
             rolled AS (
               SELECT d.org_id, d.user_id, sum(d.units) AS period_units
                 FROM subs s JOIN usage_daily d ON d.org_id = s.org_id AND d.day >= (s.b AT TIME ZONE 'UTC')::date AND d.day < $4::date
                GROUP BY 1, 2
             ),
             users AS (SELECT org_id, user_id FROM raw UNION SELECT org_id, user_id FROM rolled)
             SELECT s.org_id, s.a AS period_start, s.e AS period_end, u.user_id,
                    (coalesce(raw.period_units, 0) + coalesce(rolled.period_units, 0))::bigint AS period_units,
                    raw.day_units::bigint AS day_units, raw.day_expensive_units::bigint AS day_expensive_units
               FROM subs s
               JOIN users u ON u.org_id = s.org_id
               LEFT JOIN raw ON raw.org_id = u.org_id AND raw.user_id = u.user_id
               LEFT JOIN rolled ON rolled.org_id = u.org_id AND rolled.user_id = u.user_id`,
            [window.since, dayStart, EXPENSIVE_TOOLS, dayStart.toISOString().slice(0, 10)],
          )
        ).rows,
      );
      const byOrg = new Map<string, { period: ReturnType<typeof billingPeriod>; counts: Map<string, number> }>();
      for (const r of rows) {
        let org = byOrg.get(r.org_id);
        if (!org) {
          org = { period: billingPeriod(r.period_start.getTime(), r.period_end.getTime()), counts: new Map() };
          byOrg.set(r.org_id, org);
        }
        const add = (field: string, n: string | null) => {
          const v = Number(n ?? 0);
          if (v > 0) org.counts.set(field, (org.counts.get(field) ?? 0) + v);
        };
        add(quotaFields.userPeriod(r.user_id), r.period_units);
        add(quotaFields.orgPeriod, r.period_units);
        add(quotaFields.userDay(r.user_id, today.dayId), r.day_units);
        add(quotaFields.orgDay(today.dayId), r.day_units);
        add(quotaFields.expensiveDay(r.user_id, today.dayId), r.day_expensive_units);
      }
      let countersRaised = 0;
      for (const [orgId, { period, counts }] of byOrg) {
        countersRaised += await raiseQuotas(redis, redisKeys.quotas(orgId, period.id), counts, Math.max(0, period.endMs - now) + DAY_MS);
      }
      return { organizations: byOrg.size, countersRaised };
    },

    async advanceUsageWatermark(window: UsageWindow) {
      await deps.pool.query(
        `INSERT INTO job_watermarks (name, at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET at = greatest(job_watermarks.at, excluded.at)`,
        [WATERMARK, window.until],
      );
    },
  };
}
