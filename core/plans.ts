import { z } from 'zod';

/**
 * Plans are data (the `plans` table); this module defines their shape and validates it
 * wherever a plan is read or written. Every limit an operator can tune lives here.
 */
/** The seeded plans; operators may add their own rows beyond these. */
export const SEEDED_PLAN_IDS = ['free', 'pro', 'ultra'] as const;

const count = z.number().int().min(0);

export const QuotaPolicy = z.enum(['block', 'soft', 'overage']);
export type QuotaPolicy = z.infer<typeof QuotaPolicy>;

export const PlanLimits = z
  .object({
    /** Per API key: steady calls per minute (token bucket). */
    perKey: z.object({ perMinute: count }).strict(),
    /** Per user, summed over the user's keys. */
    perUser: z.object({ perMinute: count, perDay: count, perMonth: count, concurrent: count }).strict(),
    /** Per organization, summed over its users. */
    perOrg: z.object({ perMinute: count, perDay: count, perMonth: count, concurrent: count }).strict(),
    /** Per client IP: abuse fallback, also applied before authentication. */
    perIp: z.object({ perMinute: count }).strict(),
    /** Burst control: at most `max` calls in any sliding `windowMs` per user. */
    burst: z.object({ max: count, windowMs: z.number().int().min(100) }).strict(),
    /** Platform protection: calls per second for the whole tier, across all organizations. */
    globalPool: z.object({ perSecond: count }).strict(),
    /** Stricter limits for tools in the `expensive` group, per user. */
    expensive: z.object({ perMinute: count, perDay: count, concurrent: count }).strict(),
    /** Cheap methods other than tools/call (tools/list, ping, ...), per key. */
    otherMethodsPerMinute: count,
  })
  .strict();
export type PlanLimits = z.infer<typeof PlanLimits>;

/** A partial edit of the limits: any group, any field of a group. */
export const PlanLimitsPatch = z
  .object({
    perKey: PlanLimits.shape.perKey.partial(),
    perUser: PlanLimits.shape.perUser.partial(),
    perOrg: PlanLimits.shape.perOrg.partial(),
    perIp: PlanLimits.shape.perIp.partial(),
    burst: PlanLimits.shape.burst.partial(),
    globalPool: PlanLimits.shape.globalPool.partial(),
    expensive: PlanLimits.shape.expensive.partial(),
    otherMethodsPerMinute: PlanLimits.shape.otherMethodsPerMinute,
  })
  .partial()
  .strict();
export type PlanLimitsPatch = z.infer<typeof PlanLimitsPatch>;

export const Plan = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9_-]{1,31}$/),
    name: z.string().min(1).max(80),
    /** Position in the upgrade ladder (free 0 < pro 1 < ultra 2). */
    rank: z.number().int().min(0),
    limits: PlanLimits,
    /**
     * Tool names this plan may list and call. `null` means "the tools that declare this
     * plan in the catalog" (the default for seeded plans); a list overrides that.
     */
    allowedTools: z.array(z.string().min(1).max(64)).max(500).nullable(),
    /** How long a cacheable tool result may be served from cache for this plan. */
    cacheTtlSeconds: z.number().int().min(0).max(86_400),
    /** What happens when a quota runs out: Free is always `block`. */
    quotaPolicy: QuotaPolicy,
    /** The Stripe price a subscription to this plan bills (none: not billed through Stripe, like Free). */
    stripePriceId: z
      .string()
      .regex(/^[A-Za-z0-9_]{3,255}$/)
      .nullish(),
  })
  .strict();
export type Plan = z.infer<typeof Plan>;

/** Whether `plan` may list and call `tool`: the plan's explicit list, else the tool's own declaration. */
export function planAllowsTool(
  plan: Pick<Plan, 'id' | 'allowedTools'>,
  tool: { readonly name: string; readonly plans: readonly string[] },
): boolean {
  return plan.allowedTools === null ? tool.plans.includes(plan.id) : plan.allowedTools.includes(tool.name);
}
