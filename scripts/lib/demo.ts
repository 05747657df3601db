import type { OrgId, UserId } from '../../core/ids.js';
import type { Pool } from '../../platform/pg/pool.js';
import { parseApiKey, secretMatches } from '../../platform/tenancy/api-keys.js';
import { createApiKey, createOrganization, createUser, provision } from '../../platform/tenancy/provisioning.js';

export const DEMO_PLANS = ['free', 'pro', 'ultra'] as const;
export type DemoKeys = Record<(typeof DEMO_PLANS)[number], string>;

const DEMO_EMAIL = 'demo@tollgate.local';
const orgName = (plan: string) => `Demo (${plan[0]!.toUpperCase()}${plan.slice(1)})`;

/**
 * The demo tenant of `npm start`: one user owning three organizations, one per plan, with
 * one API key each. Keys from a previous run are reused while they still work, so a
 * second start prints the same keys.
 */
export async function seedDemo(pool: Pool, previous: Partial<DemoKeys> | undefined): Promise<{ keys: DemoKeys; created: string[] }> {
  const keys: Partial<DemoKeys> = {};
  const created: string[] = [];
  for (const plan of DEMO_PLANS) {
    const old = previous?.[plan];
    if (old && (await keyStillValid(pool, old, plan))) {
      keys[plan] = old;
      continue;
    }
    keys[plan] = await provision(pool, async (db) => {
      const user = await db.query<{ id: UserId }>('SELECT id FROM users WHERE lower(email) = $1', [DEMO_EMAIL]);
      const userId = user.rows[0]?.id ?? (await createUser(db, { email: DEMO_EMAIL, name: 'Demo User' })).userId;
      const org = await db.query<{ id: OrgId }>(
        `SELECT o.id FROM organizations o JOIN memberships m ON m.org_id = o.id
          WHERE m.user_id = $1 AND m.role = 'owner' AND o.name = $2`,
        [userId, orgName(plan)],
      );
      const orgId = org.rows[0]?.id ?? (await createOrganization(db, { name: orgName(plan), plan, ownerId: userId }));
      await db.query('UPDATE subscriptions SET plan_id = $2, updated_at = now() WHERE org_id = $1', [orgId, plan]);
      return (await createApiKey(db, { orgId, userId, name: `demo ${plan} key`, scopes: ['mcp', 'account'] })).raw;
    });
    created.push(plan);
  }
  return { keys: keys as DemoKeys, created };
}

async function keyStillValid(pool: Pool, raw: string, plan: string): Promise<boolean> {
  const parsed = parseApiKey(raw);
  if (!parsed) return false;
  const { rows } = await pool.query<{ secret_hash: Buffer }>(
    `SELECT k.secret_hash FROM api_keys k JOIN subscriptions s ON s.org_id = k.org_id
      WHERE k.prefix = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) AND s.plan_id = $2`,
    [parsed.prefix, plan],
  );
  return rows[0] !== undefined && secretMatches(parsed.secret, rows[0].secret_hash);
}
