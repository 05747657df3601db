import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Actor } from '../principal.js';
import type { PlanChangeRequest, PlanChangeResult, StripeEventSignal, StripeRefs, SubscriptionState, SubscriptionStatus } from '../billing.js';

/**
 * The Temporal contract of billing: the subscription workflow's messages and the billing
 * activities. Definitions only (no I/O): the gateway, the workflows and the activities
 * share them.
 */
export const SUBSCRIPTION_WORKFLOW = 'subscriptionWorkflow';
export const SUBSCRIPTION_SWEEP_WORKFLOW = 'subscriptionSweepWorkflow';

export interface SubscriptionInput {
  readonly orgId: string;
  /** How long one billing activity may run before it is retried (TOLLGATE_BILLING_ACTIVITY_TIMEOUT). */
  readonly activityTimeoutMs: number;
  /** Carried across continue-as-new; absent on the first run (loaded from Postgres). */
  readonly state?: SubscriptionState;
}

/** Change the plan: upgrades now (prorated), downgrades at the period's end (see PlanChangeRequest). */
export const changePlanUpdate = defineUpdate<PlanChangeResult, [PlanChangeRequest]>('changePlan');
/** Drop a pending downgrade. */
export const cancelPendingChangeUpdate = defineUpdate<PlanChangeResult, [{ actor: Actor; requestId?: string }]>('cancelPendingChange');
/** A verified Stripe webhook event for this organization. */
export const stripeEventSignal = defineSignal<[StripeEventSignal]>('stripeEvent');
export const subscriptionQuery = defineQuery<SubscriptionState>('subscription');

export interface PlanComparison {
  readonly fromRank: number;
  readonly toRank: number;
}

export interface BillingActivities {
  /** The organization's subscription as Postgres has it (first run of its workflow). */
  loadSubscription(orgId: string): Promise<SubscriptionState>;
  /** Ranks of two plans; fails (NOT_FOUND, not retried) when `to` does not exist. */
  comparePlans(input: { from: string; to: string }): Promise<PlanComparison>;
  /**
   * Moves the organization onto `to`: Stripe first (create, change with or without
   * proration, or cancel the subscription; idempotency keys from `changeId`), then Postgres
   * (plan, audit) and every gateway told. Returns the Stripe ids after the change.
   */
  applyPlan(input: {
    orgId: string;
    from: string;
    to: string;
    timing: 'now' | 'period_end';
    stripe: StripeRefs;
    changeId: string;
    actor: Actor;
    requestId?: string;
  }): Promise<StripeRefs>;
  /** Records (or clears, with null) a downgrade pending until the period's end, audited. */
  setPendingPlan(input: { orgId: string; pendingPlanId: string | null; actor: Actor; requestId?: string }): Promise<void>;
  /** Closes a period: its overage units reported to Stripe once (idempotent by organization and period). */
  closePeriod(input: { orgId: string; periodStart: string; periodEnd: string; stripe: StripeRefs }): Promise<{ overageUnits: number; reported: boolean }>;
  /**
   * Opens the period after `previous` (as long as the configured period, `TOLLGATE_BILLING_PERIOD`)
   * in Postgres, only if `previous` is still current (a retry never advances twice), and tells
   * every gateway: the organization's monthly quotas start from zero. `reportAfter`: when the
   * previous period's usage is settled (`TOLLGATE_BILLING_SETTLE` after its end).
   */
  openPeriod(input: { orgId: string; previousStart: string; previousEnd: string }): Promise<{ start: string; end: string; reportAfter: string }>;
  /** A payment failed: past_due until the grace period (`TOLLGATE_BILLING_GRACE`) ends. */
  startGrace(input: { orgId: string }): Promise<{ graceUntil: string }>;
  setStatus(input: { orgId: string; status: SubscriptionStatus }): Promise<void>;
  /** Starts the workflow of every organization that has none yet (idempotent). */
  startMissingSubscriptions(): Promise<{ started: number }>;
}
