import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { insertUsageRecords, rollUpUsage } from '../../platform/usage/usage-store.js';
import { send, type Answer } from '../support/api.js';
import {
  createIsolationTenant,
  expectNoLeak,
  isolationSuite,
  snapshotOrg,
  type DataPath,
  type IsolationContext,
  type IsolationTenant,
} from '../support/isolation-suite.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { usageRecord } from '../support/usage.js';

let stack: TestGateway;
let pool: Pool;
let ctx: IsolationContext;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  const staff = await createStaffWithToken(pool, { email: `isolation-${process.pid}-${Date.now()}@staff.test`, name: 'Isolation', tokenName: 'isolation' });
  const [a, b] = [await createIsolationTenant(pool), await createIsolationTenant(pool)];
  ctx = { pool, publicUrl: stack.mcpUrl.replace(/\/mcp$/, ''), adminUrl: stack.adminUrl, staffToken: staff.token, a, b };
  // Give both organizations history, so their audit logs and key lists have something to leak.
  for (const t of [a, b]) {
    expect((await customer(t.owner.key, 'PATCH', '/v1/org', { name: `Isolated ${t.orgId}` })).status).toBe(200);
    expect((await customer(t.owner.key, 'POST', '/v1/keys', { name: 'second key', userId: t.member.userId })).status).toBe(201);
  }
});

afterAll(async () => {
  await stack?.close();
  await pool?.end();
});

const customer = (key: string, method: DataPath['method'], path: string, body?: unknown): Promise<Answer> =>
  send(ctx.publicUrl, { method, path, token: key, ...(body === undefined ? {} : { body }) });
const admin = (method: DataPath['method'], path: string, body?: unknown): Promise<Answer> =>
  send(ctx.adminUrl, { method, path, token: ctx.staffToken, ...(body === undefined ? {} : { body }) });

/** Every customer API route that takes an id, with A's keys and B's ids. */
const CUSTOMER_PATHS: DataPath[] = [
  { name: "owner revokes B's key", credential: 'owner', method: 'POST', path: '/v1/keys/:keyId/revoke' },
  { name: "owner revokes B's owner key", credential: 'owner', method: 'POST', path: '/v1/keys/:ownerKeyId/revoke' },
  { name: "owner rotates B's key", credential: 'owner', method: 'POST', path: '/v1/keys/:keyId/rotate', body: { overlapSeconds: 0 } },
  { name: "member revokes B's key (404 comes before the role check)", credential: 'member', method: 'POST', path: '/v1/keys/:keyId/revoke' },
  { name: "member rotates B's owner key", credential: 'member', method: 'POST', path: '/v1/keys/:ownerKeyId/rotate', body: {} },
  { name: "owner promotes B's member", credential: 'owner', method: 'PATCH', path: '/v1/org/members/:userId', body: { role: 'owner' } },
  { name: "owner demotes B's owner", credential: 'owner', method: 'PATCH', path: '/v1/org/members/:ownerId', body: { role: 'member' } },
  { name: "member changes B's member's role", credential: 'member', method: 'PATCH', path: '/v1/org/members/:userId', body: { role: 'admin' } },
  { name: "owner removes B's member", credential: 'owner', method: 'DELETE', path: '/v1/org/members/:userId' },
  { name: "owner removes B's owner", credential: 'owner', method: 'DELETE', path: '/v1/org/members/:ownerId' },
  { name: "member removes B's member", credential: 'member', method: 'DELETE', path: '/v1/org/members/:userId' },
  { name: "owner creates a key for B's member", credential: 'owner', method: 'POST', path: '/v1/keys', bodyOf: (ids) => ({ name: 'stolen', userId: ids.userId }) },
];

/** Organization-scoped admin routes, with A's organization in the path and B's ids after it. */
const ADMIN_PATHS: DataPath[] = [
  { name: "changes B's member's role under A", credential: 'staff', method: 'PATCH', path: '/admin/v1/orgs/:orgId/members/:userId', body: { role: 'admin' } },
  { name: "demotes B's owner under A", credential: 'staff', method: 'PATCH', path: '/admin/v1/orgs/:orgId/members/:ownerId', body: { role: 'member' } },
  { name: "removes B's member under A", credential: 'staff', method: 'DELETE', path: '/admin/v1/orgs/:orgId/members/:userId' },
  { name: "removes B's owner under A", credential: 'staff', method: 'DELETE', path: '/admin/v1/orgs/:orgId/members/:ownerId' },
  { name: "revokes B's key under A", credential: 'staff', method: 'POST', path: '/admin/v1/orgs/:orgId/keys/:keyId/revoke' },
  { name: "rotates B's owner key under A", credential: 'staff', method: 'POST', path: '/admin/v1/orgs/:orgId/keys/:ownerKeyId/rotate', body: { overlapSeconds: 0 } },
  { name: "creates a key for B's member under A", credential: 'staff', method: 'POST', path: '/admin/v1/orgs/:orgId/keys', bodyOf: (ids) => ({ name: 'stolen', userId: ids.userId }) },
];

describe("customer API: A's keys on B's ids", () => isolationSuite(CUSTOMER_PATHS, () => ctx));
describe("admin API: A's organization, B's ids", () => isolationSuite(ADMIN_PATHS, () => ctx));

describe("lists never show another organization's data", () => {
  const ids = (answer: Answer, list: string, field = 'id') => (answer.body as Record<string, Array<Record<string, string>>>)[list]!.map((x) => x[field]!);
  const orgKeys = async (t: IsolationTenant) => (await pool.query<{ id: string }>('SELECT id FROM api_keys WHERE org_id = $1', [t.orgId])).rows.map((r) => r.id);

  it("A's owner lists exactly A's keys", async () => {
    const res = await customer(ctx.a.owner.key, 'GET', '/v1/keys');
    expect(res.status).toBe(200);
    expect(ids(res, 'keys').sort()).toEqual((await orgKeys(ctx.a)).sort());
    await expectNoLeak(pool, ctx.b.orgId, res.text);
  });

  it("A's member lists only their own keys", async () => {
    const res = await customer(ctx.a.member.key, 'GET', '/v1/keys');
    expect(res.status).toBe(200);
    expect(ids(res, 'keys', 'userId').every((u) => u === ctx.a.member.userId)).toBe(true);
    expect(ids(res, 'keys')).toContain(ctx.a.member.keyId);
    await expectNoLeak(pool, ctx.b.orgId, res.text);
  });

  it("A's members are A's owner and member only", async () => {
    const res = await customer(ctx.a.member.key, 'GET', '/v1/org/members');
    expect(res.status).toBe(200);
    expect(ids(res, 'members', 'userId').sort()).toEqual([ctx.a.owner.userId, ctx.a.member.userId].sort());
    await expectNoLeak(pool, ctx.b.orgId, res.text);
  });

  it("A's audit log holds A's entries only", async () => {
    const res = await customer(ctx.a.owner.key, 'GET', '/v1/org/audit?limit=200');
    expect(res.status).toBe(200);
    const orgIds = ids(res, 'entries', 'orgId');
    expect(orgIds.length).toBeGreaterThanOrEqual(2);
    expect(new Set(orgIds)).toEqual(new Set([ctx.a.orgId]));
    await expectNoLeak(pool, ctx.b.orgId, res.text);
  });

  it.each([
    ['keys', 'keys', 'orgId'],
    ['members', 'members', 'userId'],
    ['audit?limit=200', 'entries', 'orgId'],
  ] as const)("the admin API's /orgs/A/%s shows nothing of B", async (sub, list, field) => {
    const res = await admin('GET', `/admin/v1/orgs/${ctx.a.orgId}/${sub}`);
    expect(res.status).toBe(200);
    expect(ids(res, list, field).length).toBeGreaterThan(0);
    await expectNoLeak(pool, ctx.b.orgId, res.text);
  });
});

describe('usage', () => {
  it("A's usage shows nothing of B, even when A asks for B's user, on both APIs", async () => {
    const rec = (org: typeof ctx.a) => usageRecord({ orgId: org.orgId, userId: org.owner.userId, keyId: org.owner.keyId }, Date.now(), { latencyMs: 5 });
    await withSystem(pool, async (db) => {
      await insertUsageRecords(db, [rec(ctx.a), rec(ctx.b), rec(ctx.b)]);
      await rollUpUsage(db, new Date(Date.now() - 60_000));
    });
    const own = await customer(ctx.a.owner.key, 'GET', '/v1/org/usage');
    expect(own.status).toBe(200);
    expect((own.body as { totals: { calls: number } }).totals.calls).toBe(1);
    const theirs = await customer(ctx.a.owner.key, 'GET', `/v1/org/usage?userId=${ctx.b.owner.userId}`);
    expect(theirs.status).toBe(200);
    expect((theirs.body as { days: unknown[] }).days).toEqual([]);
    const staffView = await admin('GET', `/admin/v1/orgs/${ctx.a.orgId}/usage?userId=${ctx.b.owner.userId}`);
    expect((staffView.body as { days: unknown[] }).days).toEqual([]);
    for (const res of [own, theirs, staffView]) await expectNoLeak(pool, ctx.b.orgId, res.text);
  });
});

describe('the principal comes from the key, never from the request', () => {
  const asB = (path: string, headers: Record<string, string> = {}) => send(ctx.publicUrl, { method: 'GET', path, token: ctx.b.owner.key, headers });

  it("B's key on /v1/me is B's user in B's organization, whatever else the request names", async () => {
    const res = await asB(`/v1/me?orgId=${ctx.a.orgId}&userId=${ctx.a.owner.userId}`, { 'x-org-id': ctx.a.orgId, 'x-tollgate-org': ctx.a.orgId });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ userId: ctx.b.owner.userId, orgId: ctx.b.orgId, role: 'owner', key: { id: ctx.b.owner.keyId } });
    await expectNoLeak(pool, ctx.a.orgId, res.text);
  });

  it("B's key on /v1/org, /v1/keys and /v1/org/members sees B only", async () => {
    const org = await asB(`/v1/org?orgId=${ctx.a.orgId}`, { 'x-org-id': ctx.a.orgId });
    expect(org.status).toBe(200);
    expect(org.body).toMatchObject({ id: ctx.b.orgId });
    for (const path of ['/v1/keys', '/v1/org/members', '/v1/org/audit']) {
      const res = await asB(path, { 'x-org-id': ctx.a.orgId });
      expect(res.status, path).toBe(200);
      await expectNoLeak(pool, ctx.a.orgId, res.text);
    }
  });
});

describe('adding a member by email reveals nothing about the account behind it', () => {
  it("answers the same whether or not the email has an account (B's member's name does not leak)", async () => {
    const c = await createIsolationTenant(pool);
    const { rows } = await pool.query<{ email: string; name: string }>('SELECT email, name FROM users WHERE id = $1', [ctx.b.member.userId]);
    const existing = rows[0]!;
    const beforeB = await snapshotOrg(pool, ctx.b.orgId);

    const known = await customer(c.owner.key, 'POST', '/v1/org/members', { email: existing.email, name: 'Chosen Name' });
    const fresh = await customer(c.owner.key, 'POST', '/v1/org/members', { email: `fresh-${c.orgId}@example.test`, name: 'Chosen Name' });

    expect([known.status, fresh.status]).toEqual([201, 201]);
    const shape = (a: Answer) => {
      const { userId: _u, email: _e, joinedAt: _j, ...rest } = a.body as Record<string, unknown>;
      return rest;
    };
    expect(shape(known)).toEqual(shape(fresh));
    expect(known.text).not.toContain(JSON.stringify(existing.name));
    expect(await snapshotOrg(pool, ctx.b.orgId)).toEqual(beforeB);
  });
});
