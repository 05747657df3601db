import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionWorkflowId, type SubscriptionState } from '../../core/billing.js';
import { SUBSCRIPTION_SWEEP_WORKFLOW, subscriptionQuery } from '../../core/temporal/billing-contract.js';
import type { Pool } from '../../platform/pg/pool.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { insertUsageRecords } from '../../platform/usage/usage-store.js';
import { expectError, send } from '../support/api.js';
import { billingEnv, changePlan, deliverWebhook, eventually, setFirstPeriod, subscriptionRow } from '../support/billing.js';
import { httpClient } from '../support/mcp-clients.js';
import { scratchDatabase } from '../support/databases.js';
import { testConfig } from '../support/env.js';
import { createPool } from '../../platform/pg/pool.js';
import { ownerPool, startBillingWorker, startGateway, type TestBillingWorker, type TestGateway } from '../support/stack.js';
import { startStripeMock, type StripeStandIn } from '../support/stripe-mock.js';
import { createTenant, type TestTenant } from '../support/tenants.js';
import { usageRecord } from '../support/usage.js';

/**
 * Subscriptions as workflows, against the real Temporal dev server and stripe-mock (behind a
 * recording proxy, so the tests assert on what "Stripe" received). Billing periods are
 * seconds long through configuration; every wait is a bounded poll for state the workflow
 * reaches on its own timers.
 */
let pool: Pool;
let stripe: StripeStandIn;
let stack: TestGateway;
let worker: TestBillingWorker;
let staffToken: string;
let publicUrl: string;

const PRICE = { pro: 'price_tollgate_pro', ultra: 'price_tollgate_ultra' };

beforeAll(async () => {
  pool = ownerPool();
  stripe = await startStripeMock();
  stack = await startGateway(billingEnv(stripe.apiBase));
  worker = await startBillingWorker(stack.config, { ingest: false });
  publicUrl = stack.mcpUrl.replace(/\/mcp$/, '');
  staffToken = (await createStaffWithToken(pool, { email: `ops-${Date.now()}@billing.test`, name: 'Ops', tokenName: 'billing' })).token;
  for (const [plan, price] of Object.entries(PRICE)) {
    const r = await send(stack.adminUrl, { method: 'PATCH', path: `/admin/v1/plans/${plan}`, token: staffToken, body: { stripePriceId: price } });
    expect(r.status).toBe(200);
  }
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await stack?.close();
  await stripe?.stop();
  await pool?.end();
});

const requestsFor = (pathPrefix: string, since = 0) => stripe.requests.slice(since).filter((r) => r.path.startsWith(pathPrefix));

async function toolNames(t: TestTenant): Promise<string[]> {
  const client = await httpClient(stack.mcpUrl, t.key, 'modern');
  try {
    return (await client.listTools()).tools.map((tool) => tool.name).sort();
  } finally {
    await client.close();
  }
}

async function workflowState(orgId: string): Promise<SubscriptionState> {
  return stack.temporal.client.workflow.getHandle(subscriptionWorkflowId(orgId)).query(subscriptionQuery);
}

describe('plan changes: Free → Pro → Ultra → Pro', () => {
  it('creates the Stripe subscription, prorates the upgrade, and lands the downgrade at the period end, with limits live each time', async () => {
    const t = await createTenant(pool, { plan: 'free' });
    // Long enough for the three changes below to happen inside it, even on a busy machine.
    const period = await setFirstPeriod(pool, t.orgId, 15_000);
    expect(await toolNames(t)).not.toContain('count_primes');

    // Free → Pro: a customer and a subscription at Stripe, the plan live at once.
    const before = stripe.requests.length;
    const toPro = await changePlan(stack.adminUrl, staffToken, t.orgId, 'pro');
    expect(toPro).toMatchObject({ orgId: t.orgId, from: 'free', to: 'pro', applied: 'now', pendingPlanId: null, changeId: expect.stringMatching(/^chg_/) as unknown });
    const [customer] = requestsFor('/v1/customers', before);
    expect(customer).toMatchObject({ method: 'POST', idempotencyKey: `tollgate:${t.orgId}:customer`, form: { 'metadata[tollgate_org_id]': t.orgId } });
    const [subscribe] = requestsFor('/v1/subscriptions', before);
    expect(subscribe).toMatchObject({
      method: 'POST',
      path: '/v1/subscriptions',
      idempotencyKey: `tollgate:${t.orgId}:${String(toPro.changeId)}:subscribe`,
      form: { 'items[0][price]': PRICE.pro, payment_behavior: 'allow_incomplete', 'metadata[tollgate_org_id]': t.orgId },
    });
    const afterPro = await subscriptionRow(pool, t.orgId);
    expect(afterPro).toMatchObject({ plan_id: 'pro', stripe_customer_id: expect.stringMatching(/^cus_/) as unknown, stripe_subscription_id: expect.stringMatching(/^sub_/) as unknown });
    expect(await toolNames(t)).toContain('count_primes');

    // Pro → Ultra: an upgrade mid-period is prorated.
    const beforeUltra = stripe.requests.length;
    const toUltra = await changePlan(stack.adminUrl, staffToken, t.orgId, 'ultra');
    expect(toUltra).toMatchObject({ from: 'pro', to: 'ultra', applied: 'now' });
    expect(requestsFor('/v1/subscriptions/', beforeUltra)).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: `/v1/subscriptions/${afterPro.stripe_subscription_id}`,
        idempotencyKey: `tollgate:${t.orgId}:${String(toUltra.changeId)}:change-price`,
        form: expect.objectContaining({ 'items[0][price]': PRICE.ultra, proration_behavior: 'create_prorations' }) as unknown,
      }),
    ]);
    expect((await subscriptionRow(pool, t.orgId)).plan_id).toBe('ultra');

    // Ultra → Pro: a downgrade waits for the period's end, visibly.
    const beforeDown = stripe.requests.length;
    const toProAgain = await changePlan(stack.adminUrl, staffToken, t.orgId, 'pro');
    expect(toProAgain).toMatchObject({ from: 'ultra', to: 'pro', applied: 'at_period_end', pendingPlanId: 'pro', effectiveAt: period.end.toISOString() });
    expect(stripe.requests.length).toBe(beforeDown);
    const pending = await send(stack.adminUrl, { method: 'GET', path: `/admin/v1/orgs/${t.orgId}/subscription`, token: staffToken });
    expect(pending.body).toMatchObject({ plan: { id: 'ultra' }, pendingPlan: { id: 'pro', effectiveAt: period.end.toISOString() }, billing: { mode: 'stripe' } });

    // At the boundary: the downgrade applies, then the next period opens.
    const landed = await eventually(async () => {
      const row = await subscriptionRow(pool, t.orgId);
      expect(row).toMatchObject({ plan_id: 'pro', current_period_start: period.end });
      return row;
    }, 30_000);
    expect(landed.pending_plan_id).toBeNull();
    expect(requestsFor('/v1/subscriptions/', beforeDown)).toEqual([
      expect.objectContaining({
        path: `/v1/subscriptions/${afterPro.stripe_subscription_id}`,
        idempotencyKey: `tollgate:${t.orgId}:period-${period.start.toISOString()}:change-price`,
        form: expect.objectContaining({ 'items[0][price]': PRICE.pro, proration_behavior: 'none' }) as unknown,
      }),
    ]);
    await eventually(async () => expect(await toolNames(t)).toContain('count_primes'));

    // Every step is in the organization's audit log, with who asked.
    const audit = await send(stack.adminUrl, { method: 'GET', path: `/admin/v1/orgs/${t.orgId}/audit`, token: staffToken });
    const actions = (audit.body as { entries: { action: string; actor: { type: string }; after: { plan?: string } }[] }).entries
      .filter((e) => e.action.startsWith('subscription.'))
      .map((e) => `${e.action}:${e.actor.type}:${e.after.plan ?? ''}`)
      .reverse();
    expect(actions).toEqual(['subscription.plan_change:staff:pro', 'subscription.plan_change:staff:ultra', 'subscription.schedule_change:staff:', 'subscription.plan_change:system:pro']);
  });

  it('moving back to Free cancels the Stripe subscription', async () => {
    const t = await createTenant(pool, { plan: 'free' });
    await setFirstPeriod(pool, t.orgId, 3_600_000);
    await changePlan(stack.adminUrl, staffToken, t.orgId, 'pro');
    const { stripe_subscription_id: sub } = await subscriptionRow(pool, t.orgId);
    const before = stripe.requests.length;
    const toFree = await changePlan(stack.adminUrl, staffToken, t.orgId, 'free', 'now');
    expect(toFree).toMatchObject({ from: 'pro', to: 'free', applied: 'now' });
    expect(requestsFor('/v1/subscriptions/', before)).toEqual([expect.objectContaining({ method: 'DELETE', path: `/v1/subscriptions/${sub}` })]);
    expect(await subscriptionRow(pool, t.orgId)).toMatchObject({ plan_id: 'free', stripe_subscription_id: null });
    expect(await toolNames(t)).not.toContain('count_primes');

    // A change can be followed by its id afterwards; an unknown id is a 404.
    const followed = await send(stack.adminUrl, { method: 'GET', path: `/admin/v1/orgs/${t.orgId}/plan-changes/${String(toFree.changeId)}`, token: staffToken });
    expect(followed).toMatchObject({ status: 200, body: { status: 'completed', changeId: toFree.changeId, from: 'pro', to: 'free', applied: 'now' } });
    expectError(await send(stack.adminUrl, { method: 'GET', path: `/admin/v1/orgs/${t.orgId}/plan-changes/chg_1111111111111111111`, token: staffToken }), 404, 'NOT_FOUND');
  });

  it('a pending downgrade can be cancelled, and then nothing changes at the period end', async () => {
    const t = await createTenant(pool, { plan: 'free' });
    await setFirstPeriod(pool, t.orgId, 3_600_000);
    await changePlan(stack.adminUrl, staffToken, t.orgId, 'pro');
    expect(await changePlan(stack.adminUrl, staffToken, t.orgId, 'free')).toMatchObject({ applied: 'at_period_end', pendingPlanId: 'free' });
    expect((await subscriptionRow(pool, t.orgId)).pending_plan_id).toBe('free');
    const cancelled = await send(stack.adminUrl, { method: 'DELETE', path: `/admin/v1/orgs/${t.orgId}/pending-plan`, token: staffToken });
    expect(cancelled.body).toMatchObject({ status: 'completed', to: 'pro', pendingPlanId: null });
    expect(await subscriptionRow(pool, t.orgId)).toMatchObject({ plan_id: 'pro', pending_plan_id: null });
    expect((await workflowState(t.orgId)).pendingPlanId).toBeNull();
  });

  it('refuses unknown plans and bad changes with a clear error, changing nothing', async () => {
    const t = await createTenant(pool, { plan: 'free' });
    expectError(await send(stack.adminUrl, { method: 'PUT', path: `/admin/v1/orgs/${t.orgId}/plan`, token: staffToken, body: { plan: 'nosuchplan' } }), 400, 'INVALID_INPUT');
    expectError(await send(stack.adminUrl, { method: 'PUT', path: `/admin/v1/orgs/${t.orgId}/plan`, token: staffToken, body: { plan: 'pro', when: 'later' } }), 400, 'INVALID_INPUT');
    expectError(await send(stack.adminUrl, { method: 'GET', path: `/admin/v1/orgs/${t.orgId}/plan-changes/chg_1111111111111111111`, token: staffToken }), 404, 'NOT_FOUND');
    expect((await subscriptionRow(pool, t.orgId)).plan_id).toBe('free');
  });
});

describe('billing periods', () => {
  it('at each boundary the quotas restart; once settled, the overage goes to Stripe once, and the workflow continues as new', async () => {
    const t = await createTenant(pool, { plan: 'free' });
    const first = await setFirstPeriod(pool, t.orgId, 3_000);
    await changePlan(stack.adminUrl, staffToken, t.orgId, 'pro');
    const handle = stack.temporal.client.workflow.getHandle(subscriptionWorkflowId(t.orgId));
    const firstRun = (await handle.describe()).runId;
    // Three overage units and two within the plan in the first period, one overage unit after it.
    const who = { orgId: t.orgId, userId: t.userId, keyId: t.keyId };
    const inPeriod = first.start.getTime() + 500;
    await withSystem(pool, (db) =>
      insertUsageRecords(db, [
        ...[1, 2, 3].map(() => usageRecord(who, inPeriod, { overage: true })),
        ...[1, 2].map(() => usageRecord(who, inPeriod)),
        usageRecord(who, first.end.getTime() + 100, { overage: true }),
      ]),
    );

    const closed = await eventually(async () => {
      const { rows } = await pool.query<{ overage_units: string; stripe_identifier: string | null; period_end: Date }>(
        'SELECT overage_units, stripe_identifier, period_end FROM billing_periods WHERE org_id = $1 AND period_start = $2',
        [t.orgId, first.start],
      );
      expect(rows).toHaveLength(1);
      return rows[0]!;
    });
    expect(closed).toMatchObject({ overage_units: '3', stripe_identifier: `${t.orgId}:${first.start.toISOString()}`, period_end: first.end });
    const reports = requestsFor('/v1/billing/meter_events').filter((r) => r.form.identifier === `${t.orgId}:${first.start.toISOString()}`);
    expect(reports).toEqual([
      expect.objectContaining({
        idempotencyKey: `tollgate:${t.orgId}:overage:${first.start.toISOString()}`,
        form: expect.objectContaining({ event_name: 'tollgate_overage_units', 'payload[value]': '3', 'payload[stripe_customer_id]': expect.stringMatching(/^cus_/) as unknown }) as unknown,
      }),
    ]);

    // The next period started exactly where the first ended: the period (and its monthly
    // quota counters, keyed by the period's start) turned over once.
    const row = await subscriptionRow(pool, t.orgId);
    expect(row.current_period_start.getTime()).toBeGreaterThanOrEqual(first.end.getTime());
    expect((row.current_period_start.getTime() - first.end.getTime()) % 4_000).toBe(0);
    const { rows: periods } = await pool.query<{ period_start: Date; period_end: Date }>('SELECT period_start, period_end FROM billing_periods WHERE org_id = $1 ORDER BY period_start', [t.orgId]);
    for (let i = 1; i < periods.length; i++) expect(periods[i]!.period_start.getTime()).toBe(periods[i - 1]!.period_end.getTime());

    // The run that closed the period handed over to a fresh one, carrying its state.
    await eventually(async () => expect((await handle.describe()).runId).not.toBe(firstRun));
    const state = await workflowState(t.orgId);
    expect(state).toMatchObject({ orgId: t.orgId, planId: 'pro', status: 'active', stripe: { customerId: row.stripe_customer_id } });
    expect(Date.parse(state.periodStart)).toBeGreaterThan(first.start.getTime());
    expect(state.toReport.some((p) => p.start === first.start.toISOString())).toBe(false);
  });

  it('the sweep gives every organization its workflow, and its periods then turn on time', async () => {
    // A database of its own: the sweep takes every organization without a workflow, and the
    // shared test database holds other files' organizations.
    const sweepDb = await scratchDatabase('sweep');
    const config = testConfig({ ...billingEnv(stripe.apiBase), DATABASE_URL: sweepDb.appUrl, DATABASE_OWNER_URL: sweepDb.ownerUrl, TOLLGATE_TASK_QUEUE_PREFIX: `sweep-${Date.now()}-` });
    const sweeper = await startBillingWorker(config, { ingest: false });
    const owner = createPool(sweepDb.ownerUrl, { max: 2 });
    try {
      const t = await createTenant(owner, { plan: 'free' });
      const first = await setFirstPeriod(owner, t.orgId, 1_000);
      const sweep: unknown = await stack.temporal.client.workflow.execute(SUBSCRIPTION_SWEEP_WORKFLOW, { taskQueue: config.temporal.taskQueues.billing, workflowId: `sweep-test-${t.orgId}`, args: [] });
      // The organization and its owner's personal organization.
      expect(sweep).toEqual({ started: 2 });
      await eventually(async () => expect((await subscriptionRow(owner, t.orgId)).current_period_start.getTime()).toBe(first.end.getTime()));
      // Free has no Stripe customer: its periods close with nothing to report.
      await eventually(async () => {
        const { rows } = await owner.query<{ stripe_identifier: string | null }>('SELECT stripe_identifier FROM billing_periods WHERE org_id = $1 AND period_start = $2', [t.orgId, first.start]);
        expect(rows).toEqual([{ stripe_identifier: null }]);
      });
      // A second sweep finds nothing left to start.
      expect(await stack.temporal.client.workflow.execute(SUBSCRIPTION_SWEEP_WORKFLOW, { taskQueue: config.temporal.taskQueues.billing, workflowId: `sweep-test-2-${t.orgId}`, args: [] })).toEqual({ started: 0 });
      const { rows: orgs } = await owner.query<{ org_id: string }>('SELECT org_id FROM subscriptions');
      for (const { org_id } of orgs) await stack.temporal.client.workflow.getHandle(subscriptionWorkflowId(org_id)).terminate('test over');
    } finally {
      await owner.end();
      await sweeper.stop();
      await sweepDb.drop();
    }
  });
});

describe('Stripe webhooks', () => {
  const invoiceFailed = (id: string, customer: string) => ({ id, type: 'invoice.payment_failed', object: { object: 'invoice', id: `in_${id.slice(4)}`, customer } });

  it('a failed payment starts the grace period; a redelivered event changes nothing; unpaid at its end, the organization moves to Free', async () => {
    const t = await createTenant(pool, { plan: 'free' });
    await setFirstPeriod(pool, t.orgId, 3_600_000);
    await changePlan(stack.adminUrl, staffToken, t.orgId, 'pro');
    const { stripe_customer_id: customer, stripe_subscription_id: sub } = await subscriptionRow(pool, t.orgId);
    const eventId = `evt_fail${Date.now()}`;
    const before = stripe.requests.length;

    const first = await deliverWebhook(publicUrl, invoiceFailed(eventId, customer!));
    expect(first).toMatchObject({ status: 200, body: { received: true } });
    const pastDue = await eventually(async () => {
      const row = await subscriptionRow(pool, t.orgId);
      expect(row.status).toBe('past_due');
      return row;
    });
    expect(pastDue.plan_id).toBe('pro');

    const again = await deliverWebhook(publicUrl, invoiceFailed(eventId, customer!));
    expect(again).toMatchObject({ status: 200, body: { received: true, duplicate: true } });
    const { rows } = await pool.query('SELECT id FROM stripe_events WHERE id = $1', [eventId]);
    expect(rows).toHaveLength(1);

    // Moved to Free (the plan, then the status: two steps, so wait for both).
    await eventually(async () => expect(await subscriptionRow(pool, t.orgId)).toMatchObject({ plan_id: 'free', status: 'active', grace_until: null, stripe_subscription_id: null }));
    expect(requestsFor('/v1/subscriptions/', before)).toEqual([expect.objectContaining({ method: 'DELETE', path: `/v1/subscriptions/${sub}` })]);
    const state = await workflowState(t.orgId);
    expect(state.seenEvents.filter((id) => id === eventId)).toHaveLength(1);
  });

  it('a payment during the grace period keeps the plan', async () => {
    const t = await createTenant(pool, { plan: 'free' });
    await setFirstPeriod(pool, t.orgId, 3_600_000);
    await changePlan(stack.adminUrl, staffToken, t.orgId, 'pro');
    const { stripe_customer_id: customer } = await subscriptionRow(pool, t.orgId);
    const before = stripe.requests.length;
    // The payment follows the failure at once: well inside the grace period, whatever the machine's speed.
    const failed = `evt_fail${Date.now()}b`;
    const paid = `evt_paid${Date.now()}`;
    expect((await deliverWebhook(publicUrl, invoiceFailed(failed, customer!))).status).toBe(200);
    expect((await deliverWebhook(publicUrl, { id: paid, type: 'invoice.paid', object: { object: 'invoice', id: 'in_paid', customer } })).status).toBe(200);
    await eventually(async () => expect((await workflowState(t.orgId)).seenEvents).toEqual(expect.arrayContaining([failed, paid])));
    // Both happened, in order: the grace period started, then the payment ended it.
    const steps: string[] = [];
    const history = await stack.temporal.client.workflow.getHandle(subscriptionWorkflowId(t.orgId)).fetchHistory();
    for (const e of history.events ?? []) {
      const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (type === 'startGrace' || type === 'setStatus') steps.push(type);
    }
    expect(steps.slice(-2)).toEqual(['startGrace', 'setStatus']);
    expect(await subscriptionRow(pool, t.orgId)).toMatchObject({ plan_id: 'pro', status: 'active', grace_until: null });
    expect(requestsFor('/v1/subscriptions/', before)).toEqual([]);
  });

  it('refuses deliveries without a valid signature, recording nothing', async () => {
    const id = `evt_forged${Date.now()}`;
    const forged = await deliverWebhook(publicUrl, { id, type: 'invoice.payment_failed', object: { object: 'invoice', customer: 'cus_x' } }, 'whsec_someone_else');
    expectError(forged, 400, 'INVALID_INPUT');
    expectError(await send(publicUrl, { method: 'POST', path: '/stripe/webhook', token: null, raw: '{}' }), 400, 'INVALID_INPUT');
    const { rows } = await pool.query('SELECT 1 FROM stripe_events WHERE id = $1', [id]);
    expect(rows).toHaveLength(0);
  });

  it('acknowledges events for customers it does not know, without acting', async () => {
    const id = `evt_stranger${Date.now()}`;
    expect(await deliverWebhook(publicUrl, invoiceFailed(id, 'cus_nobodyknows'))).toMatchObject({ status: 200, body: { received: true, ignored: true } });
  });
});
