import type { Pool, PoolClient } from '../pg/pool.js';

export type Db = PoolClient;

/**
 * Runs `fn` in one transaction scoped to organization `orgId`: row-level security shows
 * and accepts only that organization's rows. Every tenant data access goes through here.
 */
export async function withTenant<T>(pool: Pool, orgId: string, fn: (db: Db) => Promise<T>): Promise<T> {
  return inTransaction(pool, "SELECT set_config('app.org_id', $1, true)", [orgId], fn);
}

/**
 * Runs `fn` in one transaction with staff visibility across organizations. Only the admin
 * API calls this, after authenticating a staff token; org-scoped admin routes use
 * `withTenant` like everyone else.
 */
export async function withStaff<T>(pool: Pool, fn: (db: Db) => Promise<T>): Promise<T> {
  return inTransaction(pool, "SELECT set_config('app.staff', 'on', true)", [], fn);
}

/**
 * Runs `fn` in one transaction with visibility across organizations, for the platform's own
 * jobs that span tenants (usage ingest and rollups, billing). Same database rights as staff;
 * a separate name so each call site says which it is.
 */
export function withSystem<T>(pool: Pool, fn: (db: Db) => Promise<T>): Promise<T> {
  return withStaff(pool, fn);
}

async function inTransaction<T>(pool: Pool, setup: string, params: unknown[], fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    await db.query(setup, params);
    const result = await fn(db);
    await db.query('COMMIT');
    return result;
  } catch (e) {
    await db.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    db.release();
  }
}
