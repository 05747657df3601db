import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billingPeriod, calendarPeriods, quotaFields } from '../../core/admission/levels.js';
import { redisKeys } from '../../core/redis-keys.js';
import { USAGE_MAINTENANCE_WORKFLOW, type UsageMaintenanceResult } from '../../core/temporal/contracts.js';
import type { UsageRecord } from '../../core/usage.js';
import type { Pool } from '../../platform/pg/pool.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { addMember, createApiKey, createUser, provision } from '../../platform/tenancy/provisioning.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { insertUsageRecords } from '../../platform/usage/usage-store.js';
import { ensureUsageSchedule } from '../../workers/src/schedules.js';
import { send } from '../support/api.js';
import { ownerPool, startBillingWorker, startGateway, type TestBillingWorker, type TestGateway } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';
import { usageRecord } from '../support/usage.js';

/**
 * Usage maintenance (the Schedule's workflow on the billing queue): daily rollups equal the
 * raw records and re-running changes nothing; Redis quota counters lost (a Redis restart
 * without its data) come back from Postgres, and no counter is ever lowered; the account
 * and admin APIs report the rollups, members seeing only their own.
 */
let pool: Pool;
let stack: TestGateway;
let billing: TestBillingWorker;
let redis: Redis;
let staffToken: string;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  billing = await startBillingWorker(stack.config, { ingest: false });
  redis = new Redis(stack.config.redis.url);
  staffToken = (await createStaffWithToken(pool, { email: `ops-${Date.now()}@usage.test`, name: 'Ops', tokenName: 'usage' })).token;
});

afterAll(async () => {
  redis?.disconnect();
  await billing?.stop();
  await stack?.close();
  await pool?.end();
});

const DAY = 86_400_000;
let seq = 0;

const record = usageRecord;

async function store(records: UsageRecord[]): Promise<void> {
  await withSystem(pool, (db) => insertUsageRecords(db, records));
}

async function maintain(): Promise<UsageMaintenanceResult> {
  return stack.temporal.client.workflow.execute<() => Promise<UsageMaintenanceResult>>(USAGE_MAINTENANCE_WORKFLOW, {
    taskQueue: stack.config.temporal.taskQueues.billing,
    workflowId: `usage-maintenance-test-${Date.now()}-${seq++}`,
    args: [],
  });
}

/** A second member of `t`'s organization with a key of its own. */
async function secondMember(t: TestTenant): Promise<{ orgId: string; userId: string; keyId: string; key: string }> {
  return provision(pool, async (db) => {
    const u = await createUser(db, { email: `member-${Date.now()}-${seq++}@usage.test`, name: 'Member' });
    await addMember(db, t.orgId, u.userId, 'member');
    const k = await createApiKey(db, { orgId: t.orgId, userId: u.userId, name: 'member key', scopes: ['mcp', 'account'] });
    return { orgId: t.orgId, userId: u.userId, keyId: k.keyId, key: k.raw };
  });
}

interface Rollup {
  day: string;
  user_id: string;
  tool: string;
  calls: number;
  ok_calls: number;
  error_calls: number;
  units: number;
  overage_units: number;
  latency_ms_sum: number;
  latency_ms_max: number;
}

/** Plain code-point order, the same in JS and for the expectations (no locale). */
const ordinal = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe('usage maintenance', () => {
  it('rolls records up per day, user and tool; a second run changes nothing', async () => {
    const t = await createTenant(pool, { plan: 'pro' });
    const m = await secondMember(t);
    const now = Date.now();
    await store([
      record(t, now - DAY),
      record(t, now - DAY, { outcome: 'failed', units: 0, latencyMs: 30 }),
      record(t, now, { overage: true }),
      record(t, now, { tool: 'count_primes', latencyMs: 50 }),
      record(m, now, { outcome: 'tool_error', units: 0 }),
    ]);
    const first = await maintain();
    expect(first.rows).toBeGreaterThanOrEqual(4);
    const byKey = (a: Rollup, b: Rollup) => ordinal(`${a.day}|${a.user_id}|${a.tool}`, `${b.day}|${b.user_id}|${b.tool}`);
    const rollups = async () =>
      (
        await pool.query<Rollup>(
          'SELECT day::text, user_id, tool, calls, ok_calls, error_calls, units::int, overage_units::int, latency_ms_sum::int, latency_ms_max FROM usage_daily WHERE org_id = $1 ORDER BY day, user_id, tool',
          [t.orgId],
        )
      ).rows.sort(byKey);
    const expected = [
      { day: isoDay(now - DAY), user_id: t.userId, tool: 'text_stats', calls: 2, ok_calls: 1, error_calls: 1, units: 1, overage_units: 0, latency_ms_sum: 40, latency_ms_max: 30 },
      { day: isoDay(now), user_id: t.userId, tool: 'count_primes', calls: 1, ok_calls: 1, error_calls: 0, units: 1, overage_units: 0, latency_ms_sum: 50, latency_ms_max: 50 },
      { day: isoDay(now), user_id: t.userId, tool: 'text_stats', calls: 1, ok_calls: 1, error_calls: 0, units: 1, overage_units: 1, latency_ms_sum: 10, latency_ms_max: 10 },
      { day: isoDay(now), user_id: m.userId, tool: 'text_stats', calls: 1, ok_calls: 0, error_calls: 0, units: 0, overage_units: 0, latency_ms_sum: 10, latency_ms_max: 10 },
    ].sort(byKey);
    expect(await rollups()).toEqual(expected);

    // A late record of yesterday (ingested now) is folded in by the next run; the rest is unchanged.
    await store([record(t, now - DAY)]);
    await maintain();
    const after = await rollups();
    expect(after.find((r) => r.day === isoDay(now - DAY))).toMatchObject({ calls: 3, ok_calls: 2, units: 2 });
    expect(after.filter((r) => r.day === isoDay(now))).toEqual(expected.filter((r) => r.day === isoDay(now)));
  });

  it('raises quota counters Redis lost back to what Postgres counted, and never lowers one', async () => {
    const t = await createTenant(pool, { plan: 'pro' });
    const now = Date.now();
    // The billing period began three days ago; a record before it does not count.
    const periodStart = new Date(now - 3 * DAY);
    await pool.query('UPDATE subscriptions SET current_period_start = $2, current_period_end = $3 WHERE org_id = $1', [t.orgId, periodStart, new Date(periodStart.getTime() + 30 * DAY)]);
    await store([
      record(t, now - 4 * DAY),
      record(t, now - 2 * DAY),
      record(t, now - 2 * DAY),
      record(t, now - DAY, { outcome: 'failed', units: 0 }),
      record(t, now),
      record(t, now, { tool: 'count_primes' }),
    ]);
    const key = redisKeys.quotas(t.orgId, billingPeriod(periodStart.getTime(), periodStart.getTime() + 30 * DAY).id);
    const day = calendarPeriods(now).dayId;
    // Redis lost the organization's counters, except one that is ahead (a call still running).
    await redis.del(key);
    await redis.hset(key, quotaFields.orgDay(day), 10);

    const result = await maintain();
    expect(result.countersRaised).toBeGreaterThanOrEqual(3);
    expect(await redis.hgetall(key)).toEqual({
      [quotaFields.userPeriod(t.userId)]: '4',
      [quotaFields.orgPeriod]: '4',
      [quotaFields.userDay(t.userId, day)]: '2',
      [quotaFields.orgDay(day)]: '10',
      // count_primes is in the expensive group, which has a daily quota of its own.
      [quotaFields.expensiveDay(t.userId, day)]: '1',
    });
    expect(await redis.pttl(key)).toBeGreaterThan(27 * DAY);
  });

  it('the Schedule is created once, and follows the configured interval when it changes', async () => {
    const scheduleId = `${stack.config.temporal.taskQueues.billing}-usage-maintenance`;
    const opts = { scheduleId, taskQueue: stack.config.temporal.taskQueues.billing };
    expect(await ensureUsageSchedule(stack.temporal.client, { ...opts, everyMs: 3_600_000 })).toBe('created');
    expect(await ensureUsageSchedule(stack.temporal.client, { ...opts, everyMs: 600_000 })).toBe('updated');
    const handle = stack.temporal.client.schedule.getHandle(scheduleId);
    try {
      const described = await handle.describe();
      expect(described.spec.intervals?.map((i) => i.every)).toEqual([600_000]);
      expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: USAGE_MAINTENANCE_WORKFLOW, taskQueue: opts.taskQueue });
      expect(described.policies.overlap).toBe('SKIP');
    } finally {
      await handle.delete();
    }
  });
});

describe('usage through the APIs', () => {
  it('owners see the whole organization, members only themselves; staff see it on the admin API', async () => {
    const t = await createTenant(pool, { plan: 'pro' });
    const m = await secondMember(t);
    const now = Date.now();
    await store([record(t, now), record(t, now), record(m, now, { tool: 'count_primes', overage: true })]);
    await maintain();
    const publicUrl = stack.mcpUrl.replace(/\/mcp$/, '');

    const owner = await send(publicUrl, { method: 'GET', path: '/v1/org/usage', token: t.key });
    expect(owner.status, owner.text).toBe(200);
    const ownerBody = owner.body as { totals: Record<string, number>; days: Array<{ userId: string }>; asOf: string | null; from: string; to: string };
    expect(ownerBody.totals).toEqual({ calls: 3, okCalls: 3, errorCalls: 0, units: 3, overageUnits: 1 });
    expect(ownerBody.asOf).not.toBeNull();
    expect(ownerBody.to).toBe(isoDay(now));

    const member = await send(publicUrl, { method: 'GET', path: '/v1/org/usage', token: m.key });
    expect(member.status).toBe(200);
    expect((member.body as { days: Array<{ userId: string }> }).days.map((d) => d.userId)).toEqual([m.userId]);
    const peek = await send(publicUrl, { method: 'GET', path: `/v1/org/usage?userId=${t.userId}`, token: m.key });
    expect(peek.status).toBe(403);

    const bad = await send(publicUrl, { method: 'GET', path: '/v1/org/usage?from=2026-13-01', token: t.key });
    expect(bad.status).toBe(400);
    const reversed = await send(publicUrl, { method: 'GET', path: '/v1/org/usage?from=2026-11-20&to=2026-11-01', token: t.key });
    expect(reversed.status).toBe(400);

    const staff = await send(stack.adminUrl, { method: 'GET', path: `/admin/v1/orgs/${t.orgId}/usage`, token: staffToken });
    expect(staff.status).toBe(200);
    expect((staff.body as { totals: unknown }).totals).toEqual(ownerBody.totals);
  });
});
