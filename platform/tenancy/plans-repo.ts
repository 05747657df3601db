import { AppError } from '../../core/errors.js';
import { Plan, type PlanLimits, type PlanLimitsPatch } from '../../core/plans.js';
import type { Pool } from '../pg/pool.js';
import type { Db } from './db-context.js';

/** Reads every plan, validated against the Plan schema (a malformed row fails loudly). */
export async function loadPlans(db: Pool | Db): Promise<Plan[]> {
  const { rows } = await db.query<{
    id: string;
    name: string;
    rank: number;
    limits: unknown;
    allowed_tools: string[] | null;
    cache_ttl_seconds: number;
    quota_policy: string;
    stripe_price_id: string | null;
  }>('SELECT id, name, rank, limits, allowed_tools, cache_ttl_seconds, quota_policy, stripe_price_id FROM plans ORDER BY rank, id');
  return rows.map((r) =>
    Plan.parse({
      id: r.id,
      name: r.name,
      rank: r.rank,
      limits: r.limits,
      allowedTools: r.allowed_tools,
      cacheTtlSeconds: r.cache_ttl_seconds,
      quotaPolicy: r.quota_policy,
      stripePriceId: r.stripe_price_id,
    }),
  );
}

export type PlanPatch = Partial<Pick<Plan, 'name' | 'allowedTools' | 'cacheTtlSeconds' | 'quotaPolicy' | 'stripePriceId'>> & { limits?: PlanLimitsPatch };

/**
 * Changes a plan (staff context). The merged plan is validated as a whole before it is
 * written, so a plan in the table is always a valid Plan.
 */
export async function updatePlan(db: Db, planId: string, patch: PlanPatch): Promise<{ before: Plan; after: Plan }> {
  const before = (await loadPlans(db)).find((p) => p.id === planId);
  if (!before) throw new AppError('NOT_FOUND', 'no such plan');
  const merged = Plan.safeParse({ ...before, ...patch, limits: patch.limits ? mergeLimits(before.limits, patch.limits) : before.limits });
  if (!merged.success) {
    throw new AppError('INVALID_INPUT', merged.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const after = merged.data;
  await db.query(
    `UPDATE plans SET name = $2, limits = $3, allowed_tools = $4, cache_ttl_seconds = $5, quota_policy = $6, stripe_price_id = $7,
            version = version + 1, updated_at = now() WHERE id = $1`,
    [planId, after.name, JSON.stringify(after.limits), after.allowedTools, after.cacheTtlSeconds, after.quotaPolicy, after.stripePriceId ?? null],
  );
  return { before, after };
}

/** Deep-merges a partial limits object (each level may be given in part). */
function mergeLimits(base: PlanLimits, patch: PlanLimitsPatch): unknown {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const current = out[k];
    out[k] = v && typeof v === 'object' && current && typeof current === 'object' ? { ...current, ...v } : v;
  }
  return out;
}

/** A new plan (staff context): operators sell more than the three seeded ones. */
export async function createPlan(db: Db, plan: Plan): Promise<Plan> {
  const valid = Plan.parse(plan);
  const inserted = await db.query(
    `INSERT INTO plans (id, name, rank, limits, allowed_tools, cache_ttl_seconds, quota_policy, stripe_price_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
    [valid.id, valid.name, valid.rank, JSON.stringify(valid.limits), valid.allowedTools, valid.cacheTtlSeconds, valid.quotaPolicy, valid.stripePriceId ?? null],
  );
  if (inserted.rowCount === 0) throw new AppError('CONFLICT', `a plan named "${valid.id}" already exists`);
  return valid;
}
