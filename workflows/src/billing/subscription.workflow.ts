import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { SEEN_EVENTS_KEPT, type ClosedPeriod, type PlanChangeRequest, type PlanChangeResult, type StripeEventSignal, type SubscriptionState } from '../../../core/billing.js';
import { NON_RETRYABLE_CODES } from '../../../core/errors.js';
import {
  cancelPendingChangeUpdate,
  changePlanUpdate,
  stripeEventSignal,
  subscriptionQuery,
  type BillingActivities,
  type SubscriptionInput,
} from '../../../core/temporal/billing-contract.js';

const SYSTEM = { type: 'system', id: 'billing' } as const;

let acts: BillingActivities;

/**
 * One organization's subscription, for as long as the organization exists (id
 * `subscription/<orgId>`). It owns the billing cycle: a durable timer to each period's end,
 * where the period's overage goes to Stripe (once), a pending downgrade applies, and the
 * next period opens (its monthly quotas start from zero); then it continues as new with its
 * state as plain JSON. Plan changes arrive as a validated Update; Stripe webhook events as a
 * Signal. One thing happens at a time: messages and the period's end take turns.
 */
export async function subscriptionWorkflow(input: SubscriptionInput): Promise<void> {
  // Retried without end: a period must close eventually, whatever Stripe or Postgres do meanwhile.
  acts = proxyActivities<BillingActivities>({
    startToCloseTimeout: input.activityTimeoutMs,
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', nonRetryableErrorTypes: [...NON_RETRYABLE_CODES] },
  });
  // Handlers are registered before the state is loaded (a plan change may be what started
  // this workflow, and must find its handler); they take their turn after the load.
  let state!: SubscriptionState;
  const loaded = (input.state ? Promise.resolve(input.state) : acts.loadSubscription(input.orgId)).then((s) => {
    state = s;
  });
  const events: StripeEventSignal[] = [];
  let turn: Promise<unknown> = loaded;
  /** Runs `fn` after everything queued before it (updates, events and period ends never interleave). */
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn);
    turn = run.catch(() => undefined);
    return run;
  };

  setHandler(subscriptionQuery, () => {
    if (!state) throw new Error('the subscription is still loading; ask again in a moment');
    return state;
  });
  setHandler(
    changePlanUpdate,
    (request) => {
      // The update's id names the change at Stripe (idempotency); read it before queueing.
      const changeId = currentUpdateInfo()?.id ?? `change-${Date.now()}`;
      return exclusive(() => refusalsFailTheUpdate(() => changePlan(state, request, changeId)));
    },
    { validator: (request: PlanChangeRequest) => validateChange(state as SubscriptionState | undefined, request) },
  );
  setHandler(cancelPendingChangeUpdate, ({ actor, requestId }) =>
    exclusive(async () => {
      if (state.pendingPlanId === null) return result(state, state.planId, 'unchanged');
      const dropped = state.pendingPlanId;
      await acts.setPendingPlan({ orgId: state.orgId, pendingPlanId: null, actor, ...(requestId ? { requestId } : {}) });
      state.pendingPlanId = null;
      return { ...result(state, dropped, 'unchanged'), to: state.planId };
    }),
  );
  setHandler(stripeEventSignal, (event) => {
    if (!state?.seenEvents.includes(event.id)) events.push(event);
  });

  await loaded;
  for (;;) {
    const now = Date.now();
    const due = [Date.parse(state.periodEnd), ...state.toReport.map((p) => Date.parse(p.reportAfter))];
    if (state.graceUntil) due.push(Date.parse(state.graceUntil));
    await condition(() => events.length > 0, Math.max(0, Math.min(...due) - now));
    while (events.length > 0) {
      const event = events.shift()!;
      await exclusive(async () => {
        await refused(`handle Stripe event ${event.type}`, state, () => onStripeEvent(state, event));
        state.seenEvents = [...state.seenEvents.filter((id) => id !== event.id), event.id].slice(-SEEN_EVENTS_KEPT);
      });
    }
    if (state.status === 'past_due' && state.graceUntil && Date.now() >= Date.parse(state.graceUntil)) {
      await exclusive(async () => {
        // Refused for good: try again in an hour rather than spin.
        if ((await refused('move to Free after the grace period', state, () => endOfGrace(state))) === null) state.graceUntil = new Date(Date.now() + 3_600_000).toISOString();
      });
    }
    if (Date.now() >= Date.parse(state.periodEnd)) await exclusive(() => endPeriod(state));
    const settled = state.toReport.filter((p) => Date.now() >= Date.parse(p.reportAfter));
    if (settled.length > 0) {
      await exclusive(() => reportPeriods(state, settled));
      // A period fully closed: hand over to a fresh run (history stays small).
      break;
    }
    if (workflowInfo().continueAsNewSuggested) break;
  }
  // Every accepted update has answered before the run hands over to the next.
  await turn;
  await condition(allHandlersFinished);
  await continueAsNew<typeof subscriptionWorkflow>({ orgId: state.orgId, activityTimeoutMs: input.activityTimeoutMs, state });
}

/** Refuses a malformed change before it enters the history (the caller gets INVALID_INPUT). */
function validateChange(state: SubscriptionState | undefined, request: PlanChangeRequest): void {
  const refuse = (message: string) => ApplicationFailure.create({ type: 'INVALID_INPUT', message, nonRetryable: true });
  if (typeof request?.planId !== 'string' || !/^[a-z][a-z0-9_-]{1,31}$/.test(request.planId)) throw refuse(`"${String(request?.planId)}" is not a plan id`);
  if (request.when !== undefined && request.when !== 'default' && request.when !== 'now') throw refuse('"when" must be "default" or "now"');
  if (state?.status === 'canceled' && request.planId !== 'free') throw refuse('the subscription is canceled; move the organization to Free first');
}

/** An activity's refusal (unknown plan, Stripe declining) fails the Update, not the workflow. */
async function refusalsFailTheUpdate<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ActivityFailure && e.cause instanceof ApplicationFailure) {
      throw ApplicationFailure.create({ type: e.cause.type ?? 'CONFLICT', message: e.cause.message, nonRetryable: true });
    }
    throw e;
  }
}

async function changePlan(state: SubscriptionState, request: PlanChangeRequest, changeId: string): Promise<PlanChangeResult> {
  const from = state.planId;
  const to = request.planId;
  const requestId = request.requestId ? { requestId: request.requestId } : {};
  if (to === from) {
    // Asking for the current plan drops a pending downgrade: the customer stays where they are.
    if (state.pendingPlanId !== null) {
      await acts.setPendingPlan({ orgId: state.orgId, pendingPlanId: null, actor: request.actor, ...requestId });
      state.pendingPlanId = null;
    }
    return result(state, from, 'unchanged');
  }
  const { fromRank, toRank } = await acts.comparePlans({ from, to });
  if (toRank > fromRank || request.when === 'now') {
    state.stripe = await acts.applyPlan({ orgId: state.orgId, from, to, timing: 'now', stripe: state.stripe, changeId, actor: request.actor, ...requestId });
    state.planId = to;
    state.pendingPlanId = null;
    log.info('plan changed now', { orgId: state.orgId, from, to });
    return result(state, from, 'now');
  }
  await acts.setPendingPlan({ orgId: state.orgId, pendingPlanId: to, actor: request.actor, ...requestId });
  state.pendingPlanId = to;
  log.info('downgrade pending until the period ends', { orgId: state.orgId, from, to, at: state.periodEnd });
  return result(state, from, 'at_period_end');
}

function result(state: SubscriptionState, from: string, applied: PlanChangeResult['applied']): PlanChangeResult {
  return {
    orgId: state.orgId,
    from,
    to: applied === 'at_period_end' ? state.pendingPlanId! : state.planId,
    applied,
    effectiveAt: applied === 'at_period_end' ? state.periodEnd : new Date(Date.now()).toISOString(),
    pendingPlanId: state.pendingPlanId,
  };
}

/** The period's end: a pending downgrade applies, the next period opens (quotas reset now). */
async function endPeriod(state: SubscriptionState): Promise<void> {
  if (state.pendingPlanId !== null) {
    const to = state.pendingPlanId;
    const changed = await refused(`downgrade to ${to} at the period's end`, state, () =>
      acts.applyPlan({ orgId: state.orgId, from: state.planId, to, timing: 'period_end', stripe: state.stripe, changeId: `period-${state.periodStart}`, actor: SYSTEM }),
    );
    if (changed) {
      state.stripe = changed;
      state.planId = to;
    } else {
      // Refused for good (the plan was deleted, Stripe declined): the organization stays where it is.
      await acts.setPendingPlan({ orgId: state.orgId, pendingPlanId: null, actor: SYSTEM });
    }
    state.pendingPlanId = null;
  }
  const next = await acts.openPeriod({ orgId: state.orgId, previousStart: state.periodStart, previousEnd: state.periodEnd });
  state.toReport = [...state.toReport, { start: state.periodStart, end: state.periodEnd, reportAfter: next.reportAfter }];
  log.info('billing period ended', { orgId: state.orgId, periodStart: state.periodStart, next: next.start });
  state.periodStart = next.start;
  state.periodEnd = next.end;
}

/**
 * Runs a step whose activity may be refused for good (a non-retryable failure): the refusal
 * is logged as an error for operators and `null` returned, so one bad step never fails the
 * organization's workflow (transient failures are retried by the activity itself).
 */
async function refused<T>(step: string, state: SubscriptionState, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    log.error('billing step refused', { orgId: state.orgId, step, reason: e.cause?.message ?? e.message });
    return null;
  }
}

/** Settled periods: their overage reported to Stripe, once each. */
async function reportPeriods(state: SubscriptionState, periods: readonly ClosedPeriod[]): Promise<void> {
  for (const period of periods) {
    const closed = await refused(`close the period from ${period.start}`, state, () =>
      acts.closePeriod({ orgId: state.orgId, periodStart: period.start, periodEnd: period.end, stripe: state.stripe }),
    );
    state.toReport = state.toReport.filter((p) => p.start !== period.start);
    if (closed) log.info('billing period closed', { orgId: state.orgId, periodStart: period.start, overageUnits: closed.overageUnits, reported: closed.reported });
  }
}

async function onStripeEvent(state: SubscriptionState, event: StripeEventSignal): Promise<void> {
  if (state.seenEvents.includes(event.id)) return;
  switch (event.type) {
    case 'invoice.payment_failed':
      if (state.status !== 'past_due') {
        const { graceUntil } = await acts.startGrace({ orgId: state.orgId });
        state.status = 'past_due';
        state.graceUntil = graceUntil;
      }
      break;
    case 'invoice.paid':
    case 'invoice.payment_succeeded':
      if (state.status === 'past_due') {
        await acts.setStatus({ orgId: state.orgId, status: 'active' });
        state.status = 'active';
        state.graceUntil = null;
      }
      break;
    case 'customer.subscription.deleted':
      if (event.subscriptionId === undefined || event.subscriptionId === state.stripe.subscriptionId) await moveToFree(state, 'the Stripe subscription was deleted', `event-${event.id}`);
      break;
    case 'customer.subscription.updated':
      if (event.subscriptionId !== undefined && event.subscriptionId !== state.stripe.subscriptionId) {
        log.info('stripe event for another subscription ignored', { orgId: state.orgId, type: event.type });
      } else if (event.subscriptionStatus === 'past_due' && state.status !== 'past_due') {
        const { graceUntil } = await acts.startGrace({ orgId: state.orgId });
        state.status = 'past_due';
        state.graceUntil = graceUntil;
      } else if (event.subscriptionStatus === 'active' && state.status === 'past_due') {
        await acts.setStatus({ orgId: state.orgId, status: 'active' });
        state.status = 'active';
        state.graceUntil = null;
      } else if (event.subscriptionStatus === 'canceled' || event.subscriptionStatus === 'unpaid') {
        await moveToFree(state, `the Stripe subscription is ${event.subscriptionStatus}`, `event-${event.id}`);
      }
      break;
    default:
      log.info('stripe event ignored', { orgId: state.orgId, type: event.type });
  }
}

async function endOfGrace(state: SubscriptionState): Promise<void> {
  await moveToFree(state, 'the grace period after a failed payment ended', `grace-${state.graceUntil}`);
}

/** `changeId` names the move at Stripe: the same event or grace period never cancels twice. */
async function moveToFree(state: SubscriptionState, why: string, changeId: string): Promise<void> {
  if (state.planId !== 'free') {
    state.stripe = await acts.applyPlan({
      orgId: state.orgId,
      from: state.planId,
      to: 'free',
      timing: 'now',
      stripe: state.stripe,
      changeId,
      actor: SYSTEM,
    });
    state.planId = 'free';
  }
  state.pendingPlanId = null;
  state.status = 'active';
  state.graceUntil = null;
  await acts.setStatus({ orgId: state.orgId, status: 'active' });
  log.info('moved to Free', { orgId: state.orgId, why });
}
