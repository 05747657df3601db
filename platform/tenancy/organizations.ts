import { AppError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Db } from './db-context.js';

export interface Organization {
  readonly id: string;
  readonly name: string;
  readonly personal: boolean;
  readonly createdAt: Date;
  readonly planId: string;
  readonly subscription: {
    readonly status: 'active' | 'past_due' | 'canceled';
    readonly currentPeriodStart: Date;
    readonly currentPeriodEnd: Date;
    readonly pendingPlanId: string | null;
  };
}

interface OrgRow {
  id: string;
  name: string;
  personal: boolean;
  created_at: Date;
  plan_id: string;
  status: Organization['subscription']['status'];
  current_period_start: Date;
  current_period_end: Date;
  pending_plan_id: string | null;
}

const SELECT = `SELECT o.id, o.name, o.personal, o.created_at, s.plan_id, s.status, s.current_period_start, s.current_period_end, s.pending_plan_id
                  FROM organizations o JOIN subscriptions s ON s.org_id = o.id`;

const toOrg = (r: OrgRow): Organization => ({
  id: r.id,
  name: r.name,
  personal: r.personal,
  createdAt: r.created_at,
  planId: r.plan_id,
  subscription: {
    status: r.status,
    currentPeriodStart: r.current_period_start,
    currentPeriodEnd: r.current_period_end,
    pendingPlanId: r.pending_plan_id,
  },
});

export async function getOrganization(db: Db, orgId: string): Promise<Organization | null> {
  const { rows } = await db.query<OrgRow>(`${SELECT} WHERE o.id = $1`, [orgId]);
  return rows[0] ? toOrg(rows[0]) : null;
}

/** Organizations ordered by id, `limit` at a time after `after` (keyset pagination). */
export async function listOrganizations(db: Db, opts: { limit: number; after?: string; search?: string }): Promise<Organization[]> {
  const { rows } = await db.query<OrgRow>(
    `${SELECT} WHERE ($1::text IS NULL OR o.id > $1) AND ($2::text IS NULL OR o.name ILIKE '%' || $2 || '%' ESCAPE '\\')
      ORDER BY o.id LIMIT $3`,
    // The search text is matched literally: % and _ in it are not wildcards.
    [opts.after ?? null, opts.search?.replace(/[\\%_]/g, (c) => `\\${c}`) ?? null, opts.limit],
  );
  return rows.map(toOrg);
}

/** A new organization on `planId`, owned by an existing user. Staff context only. */
export async function createOrganization(db: Db, input: { name: string; planId: string; ownerUserId: string }): Promise<Organization> {
  const orgId = newId('org');
  await assertPlanExists(db, input.planId);
  const owner = await db.query('SELECT 1 FROM users WHERE id = $1', [input.ownerUserId]);
  if (!owner.rowCount) throw new AppError('NOT_FOUND', 'no such user');
  await db.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', [orgId, input.name]);
  await db.query(`INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, 'owner')`, [orgId, input.ownerUserId]);
  await db.query('INSERT INTO subscriptions (org_id, plan_id) VALUES ($1, $2)', [orgId, input.planId]);
  return (await getOrganization(db, orgId))!;
}

export async function renameOrganization(db: Db, orgId: string, name: string): Promise<{ before: Organization; after: Organization }> {
  const before = await getOrganization(db, orgId);
  if (!before) throw new AppError('NOT_FOUND', 'no such organization');
  await db.query('UPDATE organizations SET name = $2 WHERE id = $1', [orgId, name]);
  return { before, after: { ...before, name } };
}

async function assertPlanExists(db: Db, planId: string): Promise<void> {
  const { rowCount } = await db.query('SELECT 1 FROM plans WHERE id = $1', [planId]);
  if (!rowCount) throw new AppError('INVALID_INPUT', `no plan named "${planId}"`, { field: 'plan' });
}
