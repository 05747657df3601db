import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { createPool } from '../../platform/pg/pool.js';
import { withTenant } from '../../platform/tenancy/db-context.js';
import { ownerPool } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';

/**
 * Isolation enforced by Postgres itself, under the application's own role: whatever the
 * code does, a transaction scoped to one organization cannot see or touch another's rows.
 */
let owner: Pool;
let app: Pool;
let a: TestTenant;
let b: TestTenant;

const TENANT_TABLES = ['organizations', 'memberships', 'subscriptions', 'api_keys', 'audit_log', 'users'] as const;

beforeAll(async () => {
  owner = ownerPool();
  app = createPool(inject('databaseUrl'), { max: 3 });
  a = await createTenant(owner, { plan: 'pro' });
  b = await createTenant(owner, { plan: 'pro' });
  await owner.query(`INSERT INTO audit_log (org_id, actor_type, actor_id, action, target_type) VALUES ($1, 'system', 'test', 'test.seed', 'org'), ($2, 'system', 'test', 'test.seed', 'org')`, [a.orgId, b.orgId]);
});

afterAll(async () => {
  await app?.end();
  await owner?.end();
});

describe('row-level security under the application role', () => {
  it('connects as a role that owns no table and cannot bypass RLS', async () => {
    const { rows } = await app.query<{ current_user: string; bypass: boolean; owned: number }>(
      `SELECT current_user, (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user) AS bypass,
              (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user) AS owned`,
    );
    expect(rows[0]).toEqual({ current_user: 'tollgate_app', bypass: false, owned: 0 });
  });

  it('has RLS enabled on every table that holds tenant data', async () => {
    const { rows } = await owner.query<{ relname: string; relrowsecurity: boolean }>(
      `SELECT c.relname, c.relrowsecurity FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
          AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)
               OR c.relname IN ('organizations', 'users', 'staff', 'staff_tokens'))`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(TENANT_TABLES.length);
    for (const r of rows) expect(r.relrowsecurity, r.relname).toBe(true);
  });

  it('shows nothing without a tenant', async () => {
    for (const table of TENANT_TABLES) {
      const { rows } = await app.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      expect(rows[0]!.n, table).toBe(0);
    }
    const staff = await app.query<{ n: number }>('SELECT count(*)::int AS n FROM staff_tokens');
    expect(staff.rows[0]!.n).toBe(0);
  });

  it("shows only the tenant's own rows", async () => {
    await withTenant(app, a.orgId, async (db) => {
      const orgs = await db.query<{ id: string }>('SELECT id FROM organizations');
      expect(orgs.rows.map((r) => r.id)).toEqual([a.orgId]);
      for (const table of ['memberships', 'subscriptions', 'api_keys', 'audit_log'] as const) {
        const { rows } = await db.query<{ org_id: string }>(`SELECT DISTINCT org_id FROM ${table}`);
        expect(rows.map((r) => r.org_id), table).toEqual([a.orgId]);
      }
      const users = await db.query<{ id: string }>('SELECT id FROM users');
      expect(users.rows.map((r) => r.id)).toEqual([a.userId]);
      const other = await db.query('SELECT 1 FROM api_keys WHERE id = $1', [b.keyId]);
      expect(other.rowCount).toBe(0);
    });
  });

  it("cannot change or delete another tenant's rows", async () => {
    await withTenant(app, a.orgId, async (db) => {
      expect((await db.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [b.keyId])).rowCount).toBe(0);
      expect((await db.query('UPDATE subscriptions SET plan_id = $2 WHERE org_id = $1', [b.orgId, 'ultra'])).rowCount).toBe(0);
      expect((await db.query('DELETE FROM memberships WHERE org_id = $1', [b.orgId])).rowCount).toBe(0);
    });
    const { rows } = await owner.query<{ revoked_at: Date | null; plan_id: string }>(
      'SELECT k.revoked_at, s.plan_id FROM api_keys k JOIN subscriptions s ON s.org_id = k.org_id WHERE k.id = $1',
      [b.keyId],
    );
    expect(rows[0]).toEqual({ revoked_at: null, plan_id: 'pro' });
  });

  it("cannot write rows into another tenant", async () => {
    await expect(
      withTenant(app, a.orgId, (db) => db.query(`INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, 'owner')`, [b.orgId, a.userId])),
    ).rejects.toThrow(/row-level security/);
    await expect(
      withTenant(app, a.orgId, (db) =>
        db.query(`INSERT INTO audit_log (org_id, actor_type, actor_id, action, target_type) VALUES ($1, 'user', 'x', 'fake.entry', 'org')`, [b.orgId]),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('keeps the audit log append-only, even for the owner', async () => {
    await expect(withTenant(app, a.orgId, (db) => db.query('DELETE FROM audit_log'))).rejects.toThrow(/permission denied/);
    await expect(withTenant(app, a.orgId, (db) => db.query("UPDATE audit_log SET action = 'x.y'"))).rejects.toThrow(/permission denied/);
    await expect(owner.query('DELETE FROM audit_log WHERE org_id = $1', [a.orgId])).rejects.toThrow(/append-only/);
  });

  it('lets plans be read by anyone but changed only by staff', async () => {
    const plans = await app.query<{ id: string }>('SELECT id FROM plans ORDER BY rank');
    expect(plans.rows.map((r) => r.id)).toEqual(expect.arrayContaining(['free', 'pro', 'ultra']));
    await withTenant(app, a.orgId, async (db) => {
      expect((await db.query(`UPDATE plans SET cache_ttl_seconds = 1 WHERE id = 'free'`)).rowCount).toBe(0);
    });
  });
});

describe('migrations', () => {
  const SCRATCH = `${inject('databaseName')}_migrate`;
  const adminUrl = () => {
    const u = new URL(inject('databaseOwnerUrl'));
    u.pathname = '/postgres';
    return u.toString();
  };
  const scratchUrl = () => {
    const u = new URL(inject('databaseOwnerUrl'));
    u.pathname = `/${SCRATCH}`;
    return u.toString();
  };

  it('apply from an empty database, re-run as a no-op, and refuse an edited migration', async () => {
    const { migrate } = await import('../../platform/pg/migrate.js');
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${SCRATCH} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${SCRATCH}`);
      const first = await migrate(scratchUrl());
      expect(first.applied.length).toBeGreaterThanOrEqual(7);
      expect(first.applied[0]).toBe('0001_app_role.sql');
      const second = await migrate(scratchUrl());
      expect(second.applied).toEqual([]);
      expect(second.alreadyApplied).toBe(first.applied.length);
      const scratch = new pg.Client({ connectionString: scratchUrl() });
      await scratch.connect();
      await scratch.query(`UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0002_plans.sql'`);
      await scratch.end();
      await expect(migrate(scratchUrl())).rejects.toThrow(/0002_plans\.sql was edited after it was applied/);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${SCRATCH} WITH (FORCE)`);
      await admin.end();
    }
  });
});
