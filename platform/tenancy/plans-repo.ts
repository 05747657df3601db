import { Plan } from '../../core/plans.js';
import type { Pool } from '../pg/pool.js';

/** Reads every plan, validated against the Plan schema (a malformed row fails loudly). */
export async function loadPlans(pool: Pool): Promise<Plan[]> {
  const { rows } = await pool.query<{
    id: string;
    name: string;
    rank: number;
    limits: unknown;
    allowed_tools: string[] | null;
    cache_ttl_seconds: number;
    quota_policy: string;
  }>('SELECT id, name, rank, limits, allowed_tools, cache_ttl_seconds, quota_policy FROM plans ORDER BY rank, id');
  return rows.map((r) =>
    Plan.parse({
      id: r.id,
      name: r.name,
      rank: r.rank,
      limits: r.limits,
      allowedTools: r.allowed_tools,
      cacheTtlSeconds: r.cache_ttl_seconds,
      quotaPolicy: r.quota_policy,
    }),
  );
}
