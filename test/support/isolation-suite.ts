import { expect, it } from 'vitest';
import { newId } from '../../core/ids.js';
import type { Pool } from '../../platform/pg/pool.js';
import { addMember, createApiKey, createUser, provision } from '../../platform/tenancy/provisioning.js';
import { comparable, expectError, send, type Answer, type HttpMethod } from './api.js';
import { createTenant } from './tenants.js';

/**
 * Tenant isolation as a table. Each entry is one data-access path (a REST route today; a
 * tool reading tenant data tomorrow) with placeholders for the ids it takes. The suite
 * runs every entry with organization A's credentials against organization B's ids and
 * asserts that the answer is 404 NOT_FOUND, indistinguishable from the answer for ids
 * that do not exist at all, that neither organization's rows changed, and that nothing
 * identifying B appears in the answer. A new data path is one more entry.
 */

/** A tenant with an owner and a plain member, each holding an API key (scopes mcp + account). */
export interface IsolationTenant {
  readonly orgId: string;
  readonly owner: { readonly userId: string; readonly keyId: string; readonly key: string };
  readonly member: { readonly userId: string; readonly keyId: string; readonly key: string };
}

let seq = 0;

export async function createIsolationTenant(pool: Pool): Promise<IsolationTenant> {
  const t = await createTenant(pool);
  const n = `${process.pid}-${Date.now()}-${seq++}`;
  const member = await provision(pool, async (db) => {
    const user = await createUser(db, { email: `iso-member-${n}@example.test`, name: `Iso Member ${n}` });
    await addMember(db, t.orgId, user.userId, 'member');
    const key = await createApiKey(db, { orgId: t.orgId, userId: user.userId, name: 'member key', scopes: ['mcp', 'account'] });
    return { userId: user.userId, keyId: key.keyId, key: key.raw };
  });
  return { orgId: t.orgId, owner: { userId: t.userId, keyId: t.keyId, key: t.key }, member };
}

/**
 * Everything of one organization, read as the owner (no row-level security): the
 * organization, its memberships and their users, its subscription, its API keys (without
 * last_used_at, which authentication writes in batches) and its audit log.
 */
export async function snapshotOrg(pool: Pool, orgId: string): Promise<Record<string, unknown>> {
  const q = async (sql: string) => (await pool.query<{ rows: unknown }>(sql, [orgId])).rows[0]!.rows;
  return {
    organizations: await q(`SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY id), '[]') AS rows FROM organizations t WHERE id = $1`),
    memberships: await q(`SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY user_id), '[]') AS rows FROM memberships t WHERE org_id = $1`),
    users: await q(`SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY id), '[]') AS rows FROM users t WHERE id IN (SELECT user_id FROM memberships WHERE org_id = $1)`),
    subscriptions: await q(`SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') AS rows FROM subscriptions t WHERE org_id = $1`),
    api_keys: await q(`SELECT coalesce(jsonb_agg(to_jsonb(t) - 'last_used_at' ORDER BY id), '[]') AS rows FROM api_keys t WHERE org_id = $1`),
    audit_log: await q(`SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY id), '[]') AS rows FROM audit_log t WHERE org_id = $1`),
  };
}

/**
 * Strings that identify an organization's data: its id, its members' ids and emails, its
 * keys' ids and public prefixes, and its name and member names as JSON strings (quoted,
 * so "Org 1" does not match inside "Org 12").
 */
export async function identifiersOf(pool: Pool, orgId: string): Promise<string[]> {
  const { rows } = await pool.query<{ v: string }>(
    `SELECT id AS v FROM organizations WHERE id = $1
     UNION SELECT to_json(name)::text FROM organizations WHERE id = $1
     UNION SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.org_id = $1
     UNION SELECT to_json(u.email)::text FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.org_id = $1
     UNION SELECT to_json(u.name)::text FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.org_id = $1
     UNION SELECT id FROM api_keys WHERE org_id = $1
     UNION SELECT prefix FROM api_keys WHERE org_id = $1`,
    [orgId],
  );
  return rows.map((r) => r.v);
}

/** Asserts that no identifier of `victimOrgId` appears anywhere in `text`. */
export async function expectNoLeak(pool: Pool, victimOrgId: string, text: string): Promise<void> {
  const leaked = (await identifiersOf(pool, victimOrgId)).filter((id) => text.includes(id));
  expect(leaked, 'identifiers of the other organization in the answer').toEqual([]);
}

/** Placeholders a path template or body may use. `:orgId` is always the caller's own organization. */
export interface Ids {
  readonly orgId: string;
  /** The other organization's plain member (or an id that exists nowhere). */
  readonly userId: string;
  /** The other organization's owner (or an id that exists nowhere). */
  readonly ownerId: string;
  /** The other organization's member's key (or an id that exists nowhere). */
  readonly keyId: string;
  /** The other organization's owner's key (or an id that exists nowhere). */
  readonly ownerKeyId: string;
}

/** Whose credentials make the request: A's owner key, A's member key, or a staff token (admin API). */
export type Credential = 'owner' | 'member' | 'staff';

export interface DataPath {
  readonly name: string;
  readonly credential: Credential;
  readonly method: HttpMethod;
  /** e.g. `/v1/keys/:keyId/revoke` or `/admin/v1/orgs/:orgId/members/:userId`. */
  readonly path: string;
  readonly body?: unknown;
  /** A body that names ids (e.g. `{ userId }`), filled in like the path. */
  readonly bodyOf?: (ids: Ids) => unknown;
  /** For paths that are not plain REST calls: how to send the request. */
  readonly send?: (ctx: IsolationContext, ids: Ids, token: string) => Promise<Answer>;
}

export interface IsolationContext {
  readonly pool: Pool;
  readonly publicUrl: string;
  readonly adminUrl: string;
  readonly staffToken: string;
  /** The caller. */
  readonly a: IsolationTenant;
  /** The organization whose ids are used. */
  readonly b: IsolationTenant;
}

export function fillPath(template: string, ids: Ids): string {
  return template.replace(/:(orgId|userId|ownerId|keyId|ownerKeyId)\b/g, (_m, name: keyof Ids) => encodeURIComponent(ids[name]));
}

function victimIds(ctx: IsolationContext): Ids {
  const { a, b } = ctx;
  return { orgId: a.orgId, userId: b.member.userId, ownerId: b.owner.userId, keyId: b.member.keyId, ownerKeyId: b.owner.keyId };
}

function unknownIds(ctx: IsolationContext): Ids {
  return { orgId: ctx.a.orgId, userId: newId('user'), ownerId: newId('user'), keyId: newId('key'), ownerKeyId: newId('key') };
}

async function run(ctx: IsolationContext, path: DataPath, ids: Ids): Promise<Answer> {
  const token = path.credential === 'staff' ? ctx.staffToken : ctx.a[path.credential].key;
  if (path.send) return path.send(ctx, ids, token);
  const body = path.bodyOf ? path.bodyOf(ids) : path.body;
  const base = path.credential === 'staff' ? ctx.adminUrl : ctx.publicUrl;
  return send(base, { method: path.method, path: fillPath(path.path, ids), token, ...(body === undefined ? {} : { body }) });
}

/** Defines one test per data path. `context` is read when the tests run (after beforeAll). */
export function isolationSuite(paths: readonly DataPath[], context: () => IsolationContext): void {
  it.each(paths.map((p) => [p.name, p] as const))('%s', async (_name, path) => {
    const ctx = context();
    const before = { a: await snapshotOrg(ctx.pool, ctx.a.orgId), b: await snapshotOrg(ctx.pool, ctx.b.orgId) };

    const cross = await run(ctx, path, victimIds(ctx));
    const unknown = await run(ctx, path, unknownIds(ctx));

    // (a) 404 NOT_FOUND, in the one error shape.
    expectError(cross, 404, 'NOT_FOUND');
    // (b) indistinguishable from an id that exists nowhere.
    expect(comparable(cross)).toEqual(comparable(unknown));
    // (c) nothing changed, in either organization.
    expect(await snapshotOrg(ctx.pool, ctx.b.orgId)).toEqual(before.b);
    expect(await snapshotOrg(ctx.pool, ctx.a.orgId)).toEqual(before.a);
    // (d) nothing of B in the answer.
    await expectNoLeak(ctx.pool, ctx.b.orgId, cross.text);
  });
}
