import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { insertUsageRecords } from '../../platform/usage/usage-store.js';
import { send } from '../support/api.js';
import { billingEnv, changePlan, eventually, setFirstPeriod, subscriptionRow } from '../support/billing.js';
import { spawnBillingWorker, type ChildService } from '../support/processes.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { startStripeMock, type StripeStandIn } from '../support/stripe-mock.js';
import { createTenant } from '../support/tenants.js';
import { usageRecord } from '../support/usage.js';

/**
 * A billing worker process killed (SIGKILL) in the middle of closing a period: Stripe has
 * received the overage report but the worker dies before it can record it. Its replacement
 * retries the step; Stripe must still count the period once (same idempotency key and meter
 * event identifier) and the period must have turned over exactly once.
 */
let pool: Pool;
let stripe: StripeStandIn;
let stack: TestGateway;
let staffToken: string;
const workers: ChildService[] = [];

beforeAll(async () => {
  pool = ownerPool();
  stripe = await startStripeMock();
  stack = await startGateway(billingEnv(stripe.apiBase));
  staffToken = (await createStaffWithToken(pool, { email: `ops-${Date.now()}@billing-crash.test`, name: 'Ops', tokenName: 'billing crash' })).token;
  const r = await send(stack.adminUrl, { method: 'PATCH', path: '/admin/v1/plans/pro', token: staffToken, body: { stripePriceId: 'price_tollgate_pro' } });
  expect(r.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.close();
  await stripe?.stop();
  await pool?.end();
});

describe('a billing worker killed while closing a period', () => {
  it('still yields exactly one meter report and one period turnover', async () => {
    const env = { ...billingEnv(stripe.apiBase), TOLLGATE_TASK_QUEUE_PREFIX: stack.config.temporal.taskQueues.billing.replace(/tollgate-billing$/, '') };
    workers.push(await spawnBillingWorker(env));

    const t = await createTenant(pool, { plan: 'free' });
    const first = await setFirstPeriod(pool, t.orgId, 3_000);
    await changePlan(stack.adminUrl, staffToken, t.orgId, 'pro');
    const who = { orgId: t.orgId, userId: t.userId, keyId: t.keyId };
    await withSystem(pool, (db) => insertUsageRecords(db, [1, 2, 3, 4].map(() => usageRecord(who, first.start.getTime() + 200, { overage: true }))));

    // Stripe receives the report, but its answer never reaches the worker: kill it then.
    const held = stripe.holdNext('/v1/billing/meter_events');
    const report = await held.arrived;
    expect(report.form).toMatchObject({ identifier: `${t.orgId}:${first.start.toISOString()}`, 'payload[value]': '4' });
    await workers[0]!.kill();
    held.release();
    workers.push(await spawnBillingWorker(env));

    const closed = await eventually(async () => {
      const { rows } = await pool.query<{ overage_units: string; stripe_identifier: string }>('SELECT overage_units, stripe_identifier FROM billing_periods WHERE org_id = $1 AND period_start = $2', [
        t.orgId,
        first.start,
      ]);
      expect(rows).toHaveLength(1);
      return rows[0]!;
    }, 30_000);
    expect(closed).toEqual({ overage_units: '4', stripe_identifier: `${t.orgId}:${first.start.toISOString()}` });

    // Sent again by the retry, with the same identity: Stripe counts it once.
    const sent = stripe.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.form.identifier === `${t.orgId}:${first.start.toISOString()}`);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sent.map((r) => r.idempotencyKey))).toEqual(new Set([`tollgate:${t.orgId}:overage:${first.start.toISOString()}`]));

    // The period turned over once: the second period starts where the first ended, and every
    // period since follows the one before (none opened twice, none skipped).
    const { rows: periods } = await pool.query<{ period_start: Date; period_end: Date }>('SELECT period_start, period_end FROM billing_periods WHERE org_id = $1 ORDER BY period_start', [t.orgId]);
    expect(periods[0]!.period_start.getTime()).toBe(first.start.getTime());
    for (let i = 1; i < periods.length; i++) expect(periods[i]!.period_start.getTime()).toBe(periods[i - 1]!.period_end.getTime());
    const now = await subscriptionRow(pool, t.orgId);
    expect((now.current_period_start.getTime() - first.end.getTime()) % 4_000).toBe(0);
  });
});
