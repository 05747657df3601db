import { z } from 'zod';
import { isId, type IdKind } from '../../../core/ids.js';
import { Plan, PlanLimitsPatch, QuotaPolicy } from '../../../core/plans.js';
import { ROLES } from '../../../core/principal.js';
import { KEY_SCOPES } from '../../../core/rbac.js';
import type { AuditRecord, KeyRecord, Member, Organization, UserWithMemberships } from './tenancy-operations.js';

/**
 * Request and response schemas of the account and admin APIs. Requests are strict (an
 * unknown field is a 400 naming it); names refuse the characters that only ever appear in
 * injection attempts, so a name is always safe to show and log.
 */
export const SafeName = z
  .string()
  .trim()
  .min(1)
  .max(120)
  .regex(/^[^\p{Cc}\p{Cf}'";\\<>`]+$/u, 'must not contain quotes, semicolons, backslashes, angle brackets or control characters');
export const Email = z.email().max(254);
export const RoleSchema = z.enum(ROLES as ['owner', 'admin', 'member']);
export const ScopeSchema = z.enum(KEY_SCOPES);

export const idOf = (kind: IdKind, label: string) =>
  z.string().refine((v) => isId(kind, v), { message: `must be a well-formed ${label} id` });

// Requests
export const AddMemberBody = z.object({ email: Email, name: SafeName.optional(), role: RoleSchema.default('member') }).strict();
export const ChangeRoleBody = z.object({ role: RoleSchema }).strict();
export const CreateKeyBody = z
  .object({
    name: SafeName,
    scopes: z.array(ScopeSchema).min(1).max(KEY_SCOPES.length).default(['mcp']),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    userId: idOf('user', 'user').optional(),
  })
  .strict();
export const RotateKeyBody = z.preprocess(
  // A body-less POST arrives as null or undefined: both mean "the defaults".
  (v) => v ?? {},
  z.object({ overlapSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400) }).strict(),
);
export const RenameOrgBody = z.object({ name: SafeName }).strict();
export const AuditQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50), before: z.string().regex(/^\d{1,18}$/).optional() }).strict();

const IsoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date: YYYY-MM-DD').refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)), 'must be a real date');
/** A usage range in UTC days (both ends included); the last 30 days by default, at most 366 days. */
export const UsageQuery = z
  .object({ from: IsoDay.optional(), to: IsoDay.optional(), userId: idOf('user', 'user').optional() })
  .strict()
  .transform((q, ctx) => {
    const to = q.to ?? new Date().toISOString().slice(0, 10);
    const from = q.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86_400_000).toISOString().slice(0, 10);
    const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;
    if (days < 0) ctx.addIssue({ code: 'custom', message: '"from" must not be after "to"', path: ['from'] });
    if (days > 365) ctx.addIssue({ code: 'custom', message: 'a range covers at most 366 days', path: ['from'] });
    return { from, to, ...(q.userId ? { userId: q.userId } : {}) };
  });

const UsageCounts = {
  calls: z.number().int(),
  okCalls: z.number().int(),
  errorCalls: z.number().int(),
  units: z.number().int(),
  overageUnits: z.number().int(),
};
export const UsageOut = z.object({
  from: z.string(),
  to: z.string(),
  /** Rollups include every call ingested up to this time (they are refreshed every few minutes). */
  asOf: z.string().nullable(),
  totals: z.object(UsageCounts),
  days: z.array(z.object({ day: z.string(), userId: z.string(), tool: z.string(), ...UsageCounts, avgLatencyMs: z.number().int(), maxLatencyMs: z.number().int() })),
});

export const CreateOrgBody = z
  .object({ name: SafeName, plan: z.string().regex(/^[a-z][a-z0-9_-]{1,31}$/).default('free'), owner: z.object({ email: Email, name: SafeName.optional() }).strict() })
  .strict();
export const CreateUserBody = z.object({ email: Email, name: SafeName }).strict();
export const ListOrgsQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(200).default(50), after: idOf('org', 'organization').optional(), search: SafeName.optional() })
  .strict();
export const FindUserQuery = z.object({ email: Email }).strict();
/** A new plan: a whole Plan, with a name as safe to show customers as any other name. */
export const PlanCreateBody = Plan.extend({ name: SafeName.max(80) });
export const PlanPatchBody = z
  .object({
    name: SafeName.max(80).optional(),
    limits: PlanLimitsPatch.optional(),
    allowedTools: z.array(z.string().regex(/^[a-z][a-z0-9_]{1,63}$/)).max(500).nullable().optional(),
    cacheTtlSeconds: z.number().int().min(0).max(86_400).optional(),
    quotaPolicy: QuotaPolicy.optional(),
    stripePriceId: Plan.shape.stripePriceId,
  })
  .strict();

// Responses
export const KeyOut = z.object({
  id: z.string(),
  orgId: z.string(),
  userId: z.string(),
  name: z.string(),
  prefix: z.string().describe('Public part of the key; the full key is only shown at creation.'),
  display: z.string(),
  scopes: z.array(z.string()),
  status: z.enum(['active', 'revoked', 'expired']),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  rotatedFrom: z.string().nullable(),
});
export const NewKeyOut = z.object({ key: KeyOut, secret: z.string().describe('The full API key. Store it now: it is never shown again.') });
export const RotatedKeyOut = NewKeyOut.extend({ previous: KeyOut });
export const MemberOut = z.object({ userId: z.string(), email: z.string(), name: z.string(), role: RoleSchema, joinedAt: z.string() });
export const OrgOut = z.object({
  id: z.string(),
  name: z.string(),
  personal: z.boolean(),
  createdAt: z.string(),
  plan: z.object({ id: z.string(), name: z.string() }),
  subscription: z.object({
    status: z.string(),
    currentPeriodStart: z.string(),
    currentPeriodEnd: z.string(),
    pendingPlanId: z.string().nullable(),
  }),
});
export const AuditOut = z.object({
  id: z.string(),
  orgId: z.string().nullable(),
  actor: z.object({ type: z.string(), id: z.string() }),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  before: z.unknown(),
  after: z.unknown(),
  requestId: z.string().nullable(),
  createdAt: z.string(),
});
export const UserOut = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  personalOrgId: z.string(),
  createdAt: z.string(),
  memberships: z.array(z.object({ orgId: z.string(), orgName: z.string(), role: RoleSchema })),
});
export const ErrorOut = z.object({ error: z.object({ code: z.string(), message: z.string(), requestId: z.string() }) });

// Record → wire
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const keyOut = (k: KeyRecord): z.infer<typeof KeyOut> => ({
  id: k.id,
  orgId: k.orgId,
  userId: k.userId,
  name: k.name,
  prefix: k.prefix,
  display: `tg_${k.prefix}…`,
  scopes: k.scopes,
  status: k.status,
  createdAt: k.createdAt.toISOString(),
  expiresAt: iso(k.expiresAt),
  revokedAt: iso(k.revokedAt),
  lastUsedAt: iso(k.lastUsedAt),
  rotatedFrom: k.rotatedFrom,
});
export const memberOut = (m: Member): z.infer<typeof MemberOut> => ({ ...m, joinedAt: m.joinedAt.toISOString() });
export const orgOut = (o: Organization, planName: (id: string) => string): z.infer<typeof OrgOut> => ({
  id: o.id,
  name: o.name,
  personal: o.personal,
  createdAt: o.createdAt.toISOString(),
  plan: { id: o.planId, name: planName(o.planId) },
  subscription: {
    status: o.subscription.status,
    currentPeriodStart: o.subscription.currentPeriodStart.toISOString(),
    currentPeriodEnd: o.subscription.currentPeriodEnd.toISOString(),
    pendingPlanId: o.subscription.pendingPlanId,
  },
});
export const auditOut = (a: AuditRecord): z.infer<typeof AuditOut> => ({
  id: a.id,
  orgId: a.orgId,
  actor: a.actor,
  action: a.action,
  targetType: a.targetType,
  targetId: a.targetId ?? null,
  before: a.before ?? null,
  after: a.after ?? null,
  requestId: a.requestId ?? null,
  createdAt: a.createdAt.toISOString(),
});
export const userOut = (u: UserWithMemberships): z.infer<typeof UserOut> => ({ ...u, createdAt: u.createdAt.toISOString() });
