import type { Actor } from './principal.js';

/**
 * An organization's subscription as its workflow holds it: plain JSON, carried across
 * continue-as-new. The `subscriptions` table mirrors it for the gateways and the APIs.
 */
export interface SubscriptionState {
  readonly orgId: string;
  planId: string;
  status: SubscriptionStatus;
  /** The current billing period (ISO 8601); monthly quotas count over it. */
  periodStart: string;
  periodEnd: string;
  /** A downgrade waiting for the period's end (null: none). */
  pendingPlanId: string | null;
  /** past_due: when the organization moves to Free if still unpaid (ISO), else null. */
  graceUntil: string | null;
  stripe: StripeRefs;
  /** Stripe events already handled (newest last, bounded): a redelivered event changes nothing. */
  seenEvents: string[];
  /**
   * Ended periods whose overage is still to be reported: the report waits until `reportAfter`,
   * so calls that ended just before the boundary have been ingested (the quotas reset at the
   * boundary itself).
   */
  toReport: ClosedPeriod[];
}

export interface ClosedPeriod {
  readonly start: string;
  readonly end: string;
  readonly reportAfter: string;
}

export type SubscriptionStatus = 'active' | 'past_due' | 'canceled';

export interface StripeRefs {
  customerId: string | null;
  subscriptionId: string | null;
  itemId: string | null;
}

/** A plan change asked of the subscription workflow (Temporal Update `changePlan`). */
export interface PlanChangeRequest {
  readonly planId: string;
  /**
   * `default`: an upgrade applies at once (prorated), a downgrade at the period's end.
   * `now`: apply at once either way (staff correcting an account).
   */
  readonly when?: 'default' | 'now';
  readonly actor: Actor;
  readonly requestId?: string;
}

export interface PlanChangeResult {
  readonly orgId: string;
  readonly from: string;
  readonly to: string;
  /** `now`: the new limits are live; `at_period_end`: pending until `effectiveAt`; `unchanged`: already on it. */
  readonly applied: 'now' | 'at_period_end' | 'unchanged';
  readonly effectiveAt: string;
  readonly pendingPlanId: string | null;
}

/** What a Stripe webhook event tells the subscription workflow (Temporal Signal `stripeEvent`). */
export interface StripeEventSignal {
  readonly id: string;
  readonly type: string;
  /** For customer.subscription.*: Stripe's status of the subscription (active, past_due, canceled, ...). */
  readonly subscriptionStatus?: string;
  readonly subscriptionId?: string;
}

/** The ids a subscription workflow is known by: one per organization, forever. */
export const subscriptionWorkflowId = (orgId: string): string => `subscription/${orgId}`;

/** How many handled Stripe event ids a workflow remembers (webhook redeliveries come within days). */
export const SEEN_EVENTS_KEPT = 200;
