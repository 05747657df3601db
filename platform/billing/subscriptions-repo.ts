import type { StripeRefs, SubscriptionState, SubscriptionStatus } from '../../core/billing.js';
import { AppError } from '../../core/errors.js';
import type { Db } from '../tenancy/db-context.js';

/**
 * The `subscriptions` table as billing reads and writes it. The organization's subscription
 * workflow owns these rows; every function here runs in the caller's transaction (system
 * context for the workflow's activities, tenant or staff context for the APIs).
 */
interface Row {
  org_id: string;
  plan_id: string;
  status: SubscriptionStatus;
  current_period_start: Date;
  current_period_end: Date;
  pending_plan_id: string | null;
  grace_until: Date | null;
  stripe_customer_id: string | null;
  stripe_subscription_id: string | null;
  stripe_subscription_item_id: string | null;
  workflow_started_at: Date | null;
}

export interface SubscriptionRecord {
  readonly orgId: string;
  readonly planId: string;
  readonly status: SubscriptionStatus;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  readonly pendingPlanId: string | null;
  readonly graceUntil: Date | null;
  readonly stripe: StripeRefs;
  /** When the subscription workflow first ran (null: the sweep has not started it yet). */
  readonly workflowStartedAt: Date | null;
}

const toRecord = (r: Row): SubscriptionRecord => ({
  orgId: r.org_id,
  planId: r.plan_id,
  status: r.status,
  periodStart: r.current_period_start,
  periodEnd: r.current_period_end,
  pendingPlanId: r.pending_plan_id,
  graceUntil: r.grace_until,
  stripe: { customerId: r.stripe_customer_id, subscriptionId: r.stripe_subscription_id, itemId: r.stripe_subscription_item_id },
  workflowStartedAt: r.workflow_started_at,
});

export async function getSubscription(db: Db, orgId: string): Promise<SubscriptionRecord | null> {
  const { rows } = await db.query<Row>('SELECT * FROM subscriptions WHERE org_id = $1', [orgId]);
  return rows[0] ? toRecord(rows[0]) : null;
}

/** The workflow's starting state, and the row marked as owned by a running workflow. */
export async function claimSubscription(db: Db, orgId: string): Promise<SubscriptionState> {
  const { rows } = await db.query<Row>('UPDATE subscriptions SET workflow_started_at = coalesce(workflow_started_at, now()) WHERE org_id = $1 RETURNING *', [orgId]);
  if (!rows[0]) throw new AppError('NOT_FOUND', `no subscription for organization ${orgId}`);
  const r = toRecord(rows[0]);
  return {
    orgId,
    planId: r.planId,
    status: r.status,
    periodStart: r.periodStart.toISOString(),
    periodEnd: r.periodEnd.toISOString(),
    pendingPlanId: r.pendingPlanId,
    graceUntil: r.graceUntil?.toISOString() ?? null,
    stripe: r.stripe,
    seenEvents: [],
    toReport: [],
  };
}

/** The plan now in force and the Stripe ids after the change that put it there. */
export async function setPlan(db: Db, orgId: string, planId: string, stripe: StripeRefs): Promise<void> {
  await db.query(
    `UPDATE subscriptions SET plan_id = $2, pending_plan_id = NULL, stripe_customer_id = $3, stripe_subscription_id = $4,
            stripe_subscription_item_id = $5, updated_at = now() WHERE org_id = $1`,
    [orgId, planId, stripe.customerId, stripe.subscriptionId, stripe.itemId],
  );
}

export async function setPendingPlan(db: Db, orgId: string, pendingPlanId: string | null): Promise<void> {
  await db.query('UPDATE subscriptions SET pending_plan_id = $2, updated_at = now() WHERE org_id = $1', [orgId, pendingPlanId]);
}

export async function setStatus(db: Db, orgId: string, status: SubscriptionStatus, graceUntil: Date | null): Promise<void> {
  await db.query('UPDATE subscriptions SET status = $2, grace_until = $3, updated_at = now() WHERE org_id = $1', [orgId, status, graceUntil]);
}

/**
 * Opens the period that follows [previousStart, previousEnd): it starts where the previous
 * one ended and lasts `interval` (a Postgres interval, '1 month'). Only a row still on
 * `previousStart` moves, so a retried call finds the period already open and returns it:
 * the period advances exactly once.
 */
export async function openNextPeriod(db: Db, input: { orgId: string; previousStart: Date; previousEnd: Date; interval: string }): Promise<{ start: Date; end: Date }> {
  const moved = await db.query<{ current_period_start: Date; current_period_end: Date }>(
    `UPDATE subscriptions SET current_period_start = $3, current_period_end = $3::timestamptz + $4::interval, updated_at = now()
      WHERE org_id = $1 AND date_trunc('milliseconds', current_period_start) = $2 RETURNING current_period_start, current_period_end`,
    [input.orgId, input.previousStart, input.previousEnd, input.interval],
  );
  const row = moved.rows[0] ?? (await db.query<Row>('SELECT * FROM subscriptions WHERE org_id = $1 FOR UPDATE', [input.orgId])).rows[0];
  if (!row) throw new AppError('NOT_FOUND', `no subscription for organization ${input.orgId}`);
  // (Postgres keeps microseconds, the workflow milliseconds: compare at the coarser grain.)
  if (row.current_period_start.getTime() < input.previousEnd.getTime()) {
    // The row lags behind the workflow (edited by hand): the workflow's periods win.
    const forced = await db.query<{ current_period_start: Date; current_period_end: Date }>(
      `UPDATE subscriptions SET current_period_start = $2, current_period_end = $2::timestamptz + $3::interval, updated_at = now()
        WHERE org_id = $1 RETURNING current_period_start, current_period_end`,
      [input.orgId, input.previousEnd, input.interval],
    );
    return { start: forced.rows[0]!.current_period_start, end: forced.rows[0]!.current_period_end };
  }
  return { start: row.current_period_start, end: row.current_period_end };
}

/** Overage units of calls that ended in [start, end). */
export async function overageUnits(db: Db, orgId: string, start: Date, end: Date): Promise<number> {
  const { rows } = await db.query<{ units: string | null }>(
    'SELECT sum(units) AS units FROM usage_records WHERE org_id = $1 AND overage AND ended_at >= $2 AND ended_at < $3',
    [orgId, start, end],
  );
  return Number(rows[0]?.units ?? 0);
}

export interface ClosedPeriodRecord {
  readonly overageUnits: number;
  readonly stripeIdentifier: string | null;
  readonly closedAt: Date;
}

export async function getClosedPeriod(db: Db, orgId: string, periodStart: Date): Promise<ClosedPeriodRecord | null> {
  const { rows } = await db.query<{ overage_units: string; stripe_identifier: string | null; closed_at: Date }>(
    'SELECT overage_units, stripe_identifier, closed_at FROM billing_periods WHERE org_id = $1 AND period_start = $2',
    [orgId, periodStart],
  );
  return rows[0] ? { overageUnits: Number(rows[0].overage_units), stripeIdentifier: rows[0].stripe_identifier, closedAt: rows[0].closed_at } : null;
}

export async function recordClosedPeriod(db: Db, input: { orgId: string; start: Date; end: Date; overageUnits: number; stripeIdentifier: string | null }): Promise<void> {
  await db.query(
    `INSERT INTO billing_periods (org_id, period_start, period_end, overage_units, stripe_identifier) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (org_id, period_start) DO NOTHING`,
    [input.orgId, input.start, input.end, input.overageUnits, input.stripeIdentifier],
  );
}

/** Closed periods, newest first. */
export async function listClosedPeriods(db: Db, orgId: string, limit: number): Promise<(ClosedPeriodRecord & { start: Date; end: Date })[]> {
  const { rows } = await db.query<{ period_start: Date; period_end: Date; overage_units: string; stripe_identifier: string | null; closed_at: Date }>(
    'SELECT * FROM billing_periods WHERE org_id = $1 ORDER BY period_start DESC LIMIT $2',
    [orgId, limit],
  );
  return rows.map((r) => ({ start: r.period_start, end: r.period_end, overageUnits: Number(r.overage_units), stripeIdentifier: r.stripe_identifier, closedAt: r.closed_at }));
}

/** Organizations whose subscription workflow has not run yet (oldest first). */
export async function subscriptionsWithoutWorkflow(db: Db, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ org_id: string }>('SELECT org_id FROM subscriptions WHERE workflow_started_at IS NULL ORDER BY org_id LIMIT $1', [limit]);
  return rows.map((r) => r.org_id);
}

/** The organization a Stripe customer belongs to (webhooks name customers, not organizations). */
export async function orgOfStripeCustomer(db: Db, customerId: string): Promise<string | null> {
  const { rows } = await db.query<{ org_id: string }>('SELECT org_id FROM subscriptions WHERE stripe_customer_id = $1', [customerId]);
  return rows[0]?.org_id ?? null;
}

/** Records a webhook event once; false when its id was seen before. */
export async function recordStripeEvent(db: Db, event: { id: string; type: string; orgId: string | null }): Promise<boolean> {
  const { rowCount } = await db.query('INSERT INTO stripe_events (id, type, org_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [event.id, event.type, event.orgId]);
  return rowCount === 1;
}

export async function stripeEventSeen(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM stripe_events WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}
