import Stripe from 'stripe';
import { expect, vi } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { send, type Answer } from './api.js';

/** The environment that runs billing against the stand-in Stripe, with periods of seconds. */
export function billingEnv(apiBase: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    STRIPE_SECRET_KEY: 'sk_test_tollgate',
    STRIPE_API_BASE: apiBase,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    TOLLGATE_BILLING_PERIOD: '4 seconds',
    TOLLGATE_BILLING_SETTLE: '1 s',
    TOLLGATE_BILLING_GRACE: '2 s',
    TOLLGATE_BILLING_ACTIVITY_TIMEOUT: '3 s',
    TOLLGATE_PLAN_CHANGE_WAIT: '30 s',
    // These tests list a Free organization's tools on a busy machine: the breaker's shedding
    // of Free traffic under event-loop lag (tested elsewhere) must not refuse them.
    TOLLGATE_BREAKER_LOOP_LAG: '10 s',
    TOLLGATE_BREAKER_REDIS_LATENCY: '5 s',
    ...over,
  };
}

export const WEBHOOK_SECRET = 'whsec_tollgate_test_secret';

/** Puts the organization's current period at [now, now + ms) (before its workflow first runs). */
export async function setFirstPeriod(ownerPool: Pool, orgId: string, ms: number): Promise<{ start: Date; end: Date }> {
  const { rows } = await ownerPool.query<{ s: Date; e: Date }>(
    `UPDATE subscriptions SET current_period_start = date_trunc('milliseconds', now()), current_period_end = date_trunc('milliseconds', now()) + $2 * interval '1 millisecond'
      WHERE org_id = $1 RETURNING current_period_start AS s, current_period_end AS e`,
    [orgId, ms],
  );
  return { start: rows[0]!.s, end: rows[0]!.e };
}

export async function subscriptionRow(ownerPool: Pool, orgId: string) {
  const { rows } = await ownerPool.query<{
    plan_id: string;
    status: string;
    pending_plan_id: string | null;
    current_period_start: Date;
    current_period_end: Date;
    grace_until: Date | null;
    stripe_customer_id: string | null;
    stripe_subscription_id: string | null;
  }>('SELECT * FROM subscriptions WHERE org_id = $1', [orgId]);
  return rows[0]!;
}

/** A staff plan change through the admin API; expects it to complete (200). */
export async function changePlan(adminUrl: string, staffToken: string, orgId: string, plan: string, when?: 'now'): Promise<Record<string, unknown>> {
  const answer: Answer = await send(adminUrl, { method: 'PUT', path: `/admin/v1/orgs/${orgId}/plan`, token: staffToken, body: { plan, ...(when ? { when } : {}) } });
  expect({ status: answer.status, body: answer.body }).toMatchObject({ status: 200, body: { status: 'completed' } });
  return answer.body as Record<string, unknown>;
}

/** A Stripe webhook delivery, signed as Stripe signs it (or with another secret). */
export async function deliverWebhook(publicUrl: string, event: { id: string; type: string; object: Record<string, unknown> }, secret = WEBHOOK_SECRET): Promise<Answer> {
  const payload = JSON.stringify({ id: event.id, object: 'event', type: event.type, api_version: '2025-01-01', created: Math.floor(Date.now() / 1000), livemode: false, data: { object: event.object } });
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret });
  return send(publicUrl, { method: 'POST', path: '/stripe/webhook', token: null, raw: payload, headers: { 'stripe-signature': signature } });
}

/** Polls `fn` until it passes (bounded): state that workflows reach on their own timers. */
export function eventually<T>(fn: () => Promise<T>, timeout = 20_000): Promise<T> {
  return vi.waitFor(fn, { timeout, interval: 100 });
}
