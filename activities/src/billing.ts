import { ApplicationFailure } from '@temporalio/common';
import Stripe from 'stripe';
import type { StripeRefs } from '../../core/billing.js';
import { AppError, isAppError } from '../../core/errors.js';
import type { BillingActivities } from '../../core/temporal/billing-contract.js';
import { appFailure } from './failures.js';
import * as repo from '../../platform/billing/subscriptions-repo.js';
import type { SubscriptionClient } from '../../platform/billing/subscription-client.js';
import type { Logger } from '../../platform/logger.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import type { StripeBilling } from '../../platform/stripe/stripe-billing.js';
import { recordAudit } from '../../platform/tenancy/audit.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { publishTenancyEvent } from '../../platform/tenancy/events.js';
import { loadPlans } from '../../platform/tenancy/plans-repo.js';

export interface BillingActivityDeps {
  readonly pool: Pool;
  readonly redis: Redis;
  /** Null in local mode (no STRIPE_SECRET_KEY): plans change without charges. */
  readonly stripe: StripeBilling | null;
  /** Starts organizations' workflows (the sweep). */
  readonly subscriptions: SubscriptionClient;
  readonly settings: { readonly period: string; readonly graceMs: number; readonly settleMs: number };
  readonly log: Logger;
}

/** How many organizations one sweep starts at most (the next sweep takes the rest). */
const SWEEP_BATCH = 500;

/**
 * The subscription workflow's side effects. Stripe calls carry idempotency keys derived from
 * the change or period they belong to; Postgres writes are conditional or idempotent; every
 * gateway is told after a change commits. So any activity may run twice (a retry after a
 * crash) and the outcome is the same as once.
 */
export function createBillingActivities(deps: BillingActivityDeps): BillingActivities {
  const { pool, stripe, log } = deps;
  const orgChanged = (orgId: string) => publishTenancyEvent(deps.redis, { type: 'org-changed', orgId });

  return {
    loadSubscription: (orgId) => failures(() => withSystem(pool, (db) => repo.claimSubscription(db, orgId))),

    comparePlans: ({ from, to }) =>
      failures(async () => {
        const plans = await loadPlans(pool);
        const target = plans.find((p) => p.id === to);
        if (!target) throw new AppError('INVALID_INPUT', `no plan named "${to}"`, { field: 'plan' });
        return { fromRank: plans.find((p) => p.id === from)?.rank ?? -1, toRank: target.rank };
      }),

    applyPlan: (input) =>
      failures(async () => {
        const plans = await loadPlans(pool);
        const target = plans.find((p) => p.id === input.to);
        if (!target) throw new AppError('INVALID_INPUT', `no plan named "${input.to}"`, { field: 'plan' });
        let stripeRefs: StripeRefs = input.stripe;
        if (stripe) {
          stripeRefs = await moveAtStripe(stripe, input, target.stripePriceId ?? null, () => orgName(pool, input.orgId));
        } else {
          log.info({ orgId: input.orgId, from: input.from, to: input.to }, 'billing in local mode: plan changed without a charge');
        }
        await withSystem(pool, async (db) => {
          await repo.setPlan(db, input.orgId, input.to, stripeRefs);
          await recordAudit(db, {
            orgId: input.orgId,
            actor: input.actor,
            action: 'subscription.plan_change',
            targetType: 'organization',
            targetId: input.orgId,
            before: { plan: input.from },
            after: { plan: input.to, timing: input.timing, changeId: input.changeId, stripeSubscription: stripeRefs.subscriptionId },
            ...(input.requestId ? { requestId: input.requestId } : {}),
          });
        });
        await orgChanged(input.orgId);
        return stripeRefs;
      }),

    setPendingPlan: ({ orgId, pendingPlanId, actor, requestId }) =>
      failures(async () => {
        await withSystem(pool, async (db) => {
          const before = await repo.getSubscription(db, orgId);
          await repo.setPendingPlan(db, orgId, pendingPlanId);
          await recordAudit(db, {
            orgId,
            actor,
            action: pendingPlanId ? 'subscription.schedule_change' : 'subscription.cancel_scheduled_change',
            targetType: 'organization',
            targetId: orgId,
            before: { pendingPlan: before?.pendingPlanId ?? null },
            after: { pendingPlan: pendingPlanId },
            ...(requestId ? { requestId } : {}),
          });
        });
        await orgChanged(orgId);
      }),

    closePeriod: ({ orgId, periodStart, periodEnd, stripe: refs }) =>
      failures(async () => {
        const start = new Date(periodStart);
        const end = new Date(periodEnd);
        const done = await withSystem(pool, (db) => repo.getClosedPeriod(db, orgId, start));
        if (done) return { overageUnits: done.overageUnits, reported: done.stripeIdentifier !== null };
        const units = await withSystem(pool, (db) => repo.overageUnits(db, orgId, start, end));
        let identifier: string | null = null;
        if (units > 0 && stripe && refs.customerId) {
          identifier = await stripe.reportOverage({ orgId, customerId: refs.customerId, periodStart, periodEnd, units });
        } else if (units > 0) {
          log.info({ orgId, periodStart, units }, stripe ? 'overage not reported: the organization has no Stripe customer' : 'billing in local mode: overage recorded, not charged');
        }
        await withSystem(pool, (db) => repo.recordClosedPeriod(db, { orgId, start, end, overageUnits: units, stripeIdentifier: identifier }));
        return { overageUnits: units, reported: identifier !== null };
      }),

    openPeriod: ({ orgId, previousStart, previousEnd }) =>
      failures(async () => {
        const next = await withSystem(pool, (db) =>
          repo.openNextPeriod(db, { orgId, previousStart: new Date(previousStart), previousEnd: new Date(previousEnd), interval: deps.settings.period }),
        );
        // Gateways re-read the organization: its monthly quotas now count the new period.
        await orgChanged(orgId);
        return { start: next.start.toISOString(), end: next.end.toISOString(), reportAfter: new Date(Date.parse(previousEnd) + deps.settings.settleMs).toISOString() };
      }),

    startGrace: ({ orgId }) =>
      failures(async () => {
        const graceUntil = new Date(Date.now() + deps.settings.graceMs);
        await withSystem(pool, (db) => repo.setStatus(db, orgId, 'past_due', graceUntil));
        await orgChanged(orgId);
        log.warn({ orgId, graceUntil }, 'payment failed: the organization keeps its plan until the grace period ends');
        return { graceUntil: graceUntil.toISOString() };
      }),

    setStatus: ({ orgId, status }) =>
      failures(async () => {
        await withSystem(pool, (db) => repo.setStatus(db, orgId, status, null));
        await orgChanged(orgId);
      }),

    startMissingSubscriptions: () =>
      failures(async () => {
        const orgIds = await withSystem(pool, (db) => repo.subscriptionsWithoutWorkflow(db, SWEEP_BATCH));
        for (const orgId of orgIds) await deps.subscriptions.ensureStarted(orgId);
        if (orgIds.length > 0) log.info({ started: orgIds.length }, 'subscription workflows started');
        return { started: orgIds.length };
      }),
  };
}

/** Creates, changes or cancels the Stripe subscription so it bills `priceId` (null: nothing, e.g. Free). */
async function moveAtStripe(
  stripe: StripeBilling,
  input: Parameters<BillingActivities['applyPlan']>[0],
  priceId: string | null,
  name: () => Promise<string>,
): Promise<StripeRefs> {
  const refs = input.stripe;
  const { orgId, changeId } = input;
  if (priceId === null) {
    if (refs.subscriptionId) {
      try {
        await stripe.cancel({ orgId, subscriptionId: refs.subscriptionId, prorate: input.timing === 'now', changeId });
      } catch (e) {
        // Already gone at Stripe (cancelled in its dashboard): the outcome we wanted.
        if (!(e instanceof Stripe.errors.StripeInvalidRequestError && e.code === 'resource_missing')) throw e;
      }
    }
    return { customerId: refs.customerId, subscriptionId: null, itemId: null };
  }
  if (refs.subscriptionId) {
    return stripe.changePrice({ orgId, refs: { ...refs, subscriptionId: refs.subscriptionId }, priceId, prorate: input.timing === 'now', changeId });
  }
  const customerId = await stripe.ensureCustomer({ orgId, orgName: await name(), customerId: refs.customerId });
  return stripe.subscribe({ orgId, customerId, priceId, changeId });
}

async function orgName(pool: Pool, orgId: string): Promise<string> {
  const { rows } = await withSystem(pool, (db) => db.query<{ name: string }>('SELECT name FROM organizations WHERE id = $1', [orgId]));
  return rows[0]?.name ?? orgId;
}

/**
 * Failures in Temporal's terms: registry errors keep their code (and whether they are
 * retried); Stripe refusing a request (4xx other than 409/429) is not retried; anything
 * else is retried with backoff.
 */
async function failures<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isAppError(err)) throw appFailure(err);
    if (err instanceof Stripe.errors.StripeError && err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 && err.statusCode !== 409 && err.statusCode !== 429) {
      throw ApplicationFailure.create({ type: 'CONFLICT', message: `Stripe refused the request: ${err.message}`, nonRetryable: true });
    }
    throw err;
  }
}
