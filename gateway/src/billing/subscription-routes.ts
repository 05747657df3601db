import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { subscriptionWorkflowId } from '../../../core/billing.js';
import { AppError } from '../../../core/errors.js';
import { newId } from '../../../core/ids.js';
import type { ChangeOutcome, SubscriptionClient } from '../../../platform/billing/subscription-client.js';
import { getSubscription, listClosedPeriods } from '../../../platform/billing/subscriptions-repo.js';
import type { Pool } from '../../../platform/pg/pool.js';
import { withTenant } from '../../../platform/tenancy/db-context.js';
import { idOf } from '../accounts/schemas.js';

export interface SubscriptionRouteDeps {
  readonly pool: Pool;
  readonly subscriptions: SubscriptionClient;
  readonly planName: (planId: string) => string;
  readonly planExists: (planId: string) => Promise<boolean>;
  /** How long a request waits for a change's outcome before answering 202 (TOLLGATE_PLAN_CHANGE_WAIT). */
  readonly waitMs: number;
  readonly mode: 'stripe' | 'local';
  /** Throws NOT_FOUND unless the organization exists. */
  readonly existingOrg: (orgId: string) => Promise<unknown>;
  readonly actorOf: (request: FastifyRequest) => { actor: { type: 'staff' | 'user' | 'system'; id: string }; requestId: string };
}

const PlanId = z.string().regex(/^[a-z][a-z0-9_-]{1,31}$/);
const OrgParams = z.object({ orgId: idOf('org', 'organization') }).strict();
const ChangeParams = OrgParams.extend({ changeId: z.string().regex(/^chg_[1-9A-HJ-NP-Za-km-z]{8,40}$/, 'must be a plan change id (chg_…)') }).strict();
const WaitQuery = z.object({ wait: z.coerce.number().int().min(0).max(60_000).optional() }).strict();

export const ChangePlanBody = z
  .object({
    plan: PlanId,
    /** `default`: upgrades now (prorated), downgrades at the period's end. `now`: either way at once. */
    when: z.enum(['default', 'now']).default('default'),
  })
  .strict();

export const ChangeOut = z.object({
  changeId: z.string(),
  status: z.enum(['completed', 'pending']),
  /** Where to follow a pending change. */
  follow: z.string().optional(),
  orgId: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  /** `now`: the new limits are live; `at_period_end`: pending until effectiveAt; `unchanged`. */
  applied: z.enum(['now', 'at_period_end', 'unchanged']).optional(),
  effectiveAt: z.string().optional(),
  pendingPlanId: z.string().nullable().optional(),
});

export const SubscriptionOut = z.object({
  orgId: z.string(),
  plan: z.object({ id: z.string(), name: z.string() }),
  status: z.enum(['active', 'past_due', 'canceled']),
  currentPeriodStart: z.string(),
  currentPeriodEnd: z.string(),
  pendingPlan: z.object({ id: z.string(), name: z.string(), effectiveAt: z.string() }).nullable(),
  graceUntil: z.string().nullable(),
  billing: z.object({ mode: z.enum(['stripe', 'local']), stripeCustomerId: z.string().nullable(), stripeSubscriptionId: z.string().nullable() }),
  /** The workflow that owns the subscription (Temporal Web), null until it first ran. */
  workflowId: z.string().nullable(),
  closedPeriods: z.array(z.object({ start: z.string(), end: z.string(), overageUnits: z.number(), reportedToStripe: z.boolean(), closedAt: z.string() })),
});

/**
 * Subscriptions on the admin API: read one, change its plan, follow or cancel a pending
 * change. Changes go to the organization's subscription workflow as Temporal Updates; the
 * answer is the outcome when it comes within the wait (200), else the change's id and
 * where to follow it (202). Registered inside the admin routes (staff authentication).
 */
export function subscriptionAdminRoutes(root: FastifyInstance, deps: SubscriptionRouteDeps): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ['admin', 'billing'];
  const security = [{ staffToken: [] }];
  const responses = { 200: ChangeOut, 202: ChangeOut };

  app.get(
    '/admin/v1/orgs/:orgId/subscription',
    { schema: { tags, security, summary: 'The subscription: plan, period, pending change, Stripe ids, closed periods', params: OrgParams, response: { 200: SubscriptionOut } } },
    async (request) => {
      const { orgId } = request.params;
      const found = await withTenant(deps.pool, orgId, async (db) => ({ sub: await getSubscription(db, orgId), periods: await listClosedPeriods(db, orgId, 12) }));
      if (!found.sub) throw new AppError('NOT_FOUND', 'no such organization');
      const { sub, periods } = found;
      return {
        orgId,
        plan: { id: sub.planId, name: deps.planName(sub.planId) },
        status: sub.status,
        currentPeriodStart: sub.periodStart.toISOString(),
        currentPeriodEnd: sub.periodEnd.toISOString(),
        pendingPlan: sub.pendingPlanId ? { id: sub.pendingPlanId, name: deps.planName(sub.pendingPlanId), effectiveAt: sub.periodEnd.toISOString() } : null,
        graceUntil: sub.graceUntil?.toISOString() ?? null,
        billing: { mode: deps.mode, stripeCustomerId: sub.stripe.customerId, stripeSubscriptionId: sub.stripe.subscriptionId },
        workflowId: sub.workflowStartedAt ? subscriptionWorkflowId(orgId) : null,
        closedPeriods: periods.map((p) => ({
          start: p.start.toISOString(),
          end: p.end.toISOString(),
          overageUnits: p.overageUnits,
          reportedToStripe: p.stripeIdentifier !== null,
          closedAt: p.closedAt.toISOString(),
        })),
      };
    },
  );

  app.put(
    '/admin/v1/orgs/:orgId/plan',
    {
      schema: {
        tags,
        security,
        summary: 'Change the plan: an upgrade applies at once (prorated), a downgrade at the period’s end; 202 with a change id when it takes longer than the wait',
        params: OrgParams,
        querystring: WaitQuery,
        body: ChangePlanBody,
        response: responses,
      },
    },
    async (request, reply) => {
      const { orgId } = request.params;
      await deps.existingOrg(orgId);
      if (!(await deps.planExists(request.body.plan))) throw new AppError('INVALID_INPUT', `no plan named "${request.body.plan}"`, { field: 'plan' });
      const changeId = newId('change');
      const { actor, requestId } = deps.actorOf(request);
      const outcome = await deps.subscriptions.changePlan(orgId, changeId, { planId: request.body.plan, when: request.body.when, actor, requestId }, request.query.wait ?? deps.waitMs);
      return answer(reply, orgId, outcome);
    },
  );

  app.get(
    '/admin/v1/orgs/:orgId/plan-changes/:changeId',
    { schema: { tags, security, summary: 'Follow a plan change: its outcome, or 202 while it runs', params: ChangeParams, querystring: WaitQuery, response: responses } },
    async (request, reply) => {
      const { orgId, changeId } = request.params;
      await deps.existingOrg(orgId);
      return answer(reply, orgId, await deps.subscriptions.followChange(orgId, changeId, request.query.wait ?? deps.waitMs));
    },
  );

  app.delete(
    '/admin/v1/orgs/:orgId/pending-plan',
    { schema: { tags, security, summary: 'Cancel a downgrade waiting for the period’s end', params: OrgParams, querystring: WaitQuery, response: responses } },
    async (request, reply) => {
      const { orgId } = request.params;
      await deps.existingOrg(orgId);
      const { actor, requestId } = deps.actorOf(request);
      return answer(reply, orgId, await deps.subscriptions.cancelPendingChange(orgId, newId('change'), { actor, requestId }, request.query.wait ?? deps.waitMs));
    },
  );
}

function answer(reply: FastifyReply, orgId: string, outcome: ChangeOutcome) {
  if (outcome.status === 'pending') {
    return reply.code(202).send({ changeId: outcome.changeId, status: 'pending' as const, follow: `/admin/v1/orgs/${orgId}/plan-changes/${outcome.changeId}` });
  }
  return reply.code(200).send({ changeId: outcome.changeId, status: 'completed' as const, ...outcome.result });
}
