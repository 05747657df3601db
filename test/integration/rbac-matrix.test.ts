import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../core/principal.js';
import { can, RBAC, type AccountOperation } from '../../core/rbac.js';
import type { Pool } from '../../platform/pg/pool.js';
import { addMember, createApiKey, createUser, provision } from '../../platform/tenancy/provisioning.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { expectError, send, type Answer, type ApiRequest } from '../support/api.js';
import { snapshotOrg } from '../support/isolation-suite.js';
import { modernHeaders, MODERN_META } from '../support/mcp-clients.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

let stack: TestGateway;
let pool: Pool;
let publicUrl: string;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  publicUrl = stack.mcpUrl.replace(/\/mcp$/, '');
});

afterAll(async () => {
  await stack?.close();
  await pool?.end();
});

/**
 * One fresh organization per cell: the acting user (with `role`, a key it acts with and a
 * spare key of its own), another plain member and another owner, each with a key.
 */
interface Cell {
  readonly role: Role;
  readonly orgId: string;
  readonly actor: { readonly userId: string; readonly key: string; readonly keyId: string; readonly spareKeyId: string };
  readonly member: { readonly userId: string; readonly keyId: string };
  readonly owner: { readonly userId: string; readonly keyId: string };
}

let seq = 0;
async function freshCell(role: Role, scopes?: string[]): Promise<Cell> {
  const t = await createTenant(pool, { role, ...(scopes ? { scopes } : {}) });
  const n = `${process.pid}-${Date.now()}-${seq++}`;
  return provision(pool, async (db) => {
    const other = async (r: Role) => {
      const u = await createUser(db, { email: `rbac-${r}-${n}@example.test`, name: `Rbac ${r} ${n}` });
      await addMember(db, t.orgId, u.userId, r);
      const k = await createApiKey(db, { orgId: t.orgId, userId: u.userId, name: `${r} key`, scopes: ['mcp', 'account'] });
      return { userId: u.userId, keyId: k.keyId };
    };
    const spare = await createApiKey(db, { orgId: t.orgId, userId: t.userId, name: 'spare key', scopes: ['mcp', 'account'] });
    return {
      role,
      orgId: t.orgId,
      actor: { userId: t.userId, key: t.key, keyId: t.keyId, spareKeyId: spare.keyId },
      member: await other('member'),
      owner: await other('owner'),
    };
  });
}

const roleOf = async (c: Cell, userId: string) =>
  (await pool.query<{ role: Role }>('SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2', [c.orgId, userId])).rows[0]?.role;
const keyRow = async (keyId: string) =>
  (await pool.query<{ user_id: string; revoked_at: Date | null; expires_at: Date | null }>('SELECT user_id, revoked_at, expires_at FROM api_keys WHERE id = $1', [keyId])).rows[0];
const successorOf = async (keyId: string) => (await pool.query<{ id: string; user_id: string }>('SELECT id, user_id FROM api_keys WHERE rotated_from = $1', [keyId])).rows;
const auditOf = async (c: Cell) =>
  (await pool.query<{ action: string; actor_type: string; actor_id: string }>('SELECT action, actor_type, actor_id FROM audit_log WHERE org_id = $1 ORDER BY id', [c.orgId])).rows;
const uniqueEmail = (c: Cell, what: string) => `${what}-${c.orgId.toLowerCase()}@example.test`;
const body = <T>(a: Answer) => a.body as T;

interface Operation {
  readonly name: string;
  /** Allowed exactly when the role may do every one of these, per `RBAC` in core/rbac.ts. */
  readonly needs: readonly AccountOperation[];
  /** An operation of core/rbac.ts that decides what the answer shows rather than whether it is allowed. */
  readonly shows?: AccountOperation;
  readonly request: (c: Cell) => Omit<ApiRequest, 'token'>;
  /** Status when allowed. */
  readonly ok: 200 | 201 | 204;
  /** The audit action a change appends (reads append nothing). */
  readonly audit?: string;
  /** Asserts that the operation's effect happened. */
  readonly effect: (c: Cell, answer: Answer) => Promise<void>;
}

const OPERATIONS: Operation[] = [
  {
    name: 'read the organization',
    needs: ['org.read'],
    request: () => ({ method: 'GET', path: '/v1/org' }),
    ok: 200,
    effect: async (c, a) => expect(body<{ id: string }>(a).id).toBe(c.orgId),
  },
  {
    name: 'rename the organization',
    needs: ['org.manage'],
    request: () => ({ method: 'PATCH', path: '/v1/org', body: { name: 'Renamed Org' } }),
    ok: 200,
    audit: 'organization.rename',
    effect: async (c) => expect((await pool.query('SELECT name FROM organizations WHERE id = $1', [c.orgId])).rows[0]).toEqual({ name: 'Renamed Org' }),
  },
  {
    name: 'list the members',
    needs: ['members.read'],
    request: () => ({ method: 'GET', path: '/v1/org/members' }),
    ok: 200,
    effect: async (c, a) =>
      expect(body<{ members: Array<{ userId: string }> }>(a).members.map((m) => m.userId)).toEqual(expect.arrayContaining([c.actor.userId, c.member.userId, c.owner.userId])),
  },
  {
    name: 'add a member',
    needs: ['members.manage'],
    request: (c) => ({ method: 'POST', path: '/v1/org/members', body: { email: uniqueEmail(c, 'new-member'), role: 'member' } }),
    ok: 201,
    audit: 'member.add',
    effect: async (c, a) => expect(await roleOf(c, body<{ userId: string }>(a).userId)).toBe('member'),
  },
  {
    name: 'add an owner',
    needs: ['members.manage_owners'],
    request: (c) => ({ method: 'POST', path: '/v1/org/members', body: { email: uniqueEmail(c, 'new-owner'), role: 'owner' } }),
    ok: 201,
    audit: 'member.add',
    effect: async (c, a) => expect(await roleOf(c, body<{ userId: string }>(a).userId)).toBe('owner'),
  },
  {
    name: "change a member's role",
    needs: ['members.manage'],
    request: (c) => ({ method: 'PATCH', path: `/v1/org/members/${c.member.userId}`, body: { role: 'admin' } }),
    ok: 200,
    audit: 'member.change_role',
    effect: async (c) => expect(await roleOf(c, c.member.userId)).toBe('admin'),
  },
  {
    name: 'promote a member to owner',
    needs: ['members.manage_owners'],
    request: (c) => ({ method: 'PATCH', path: `/v1/org/members/${c.member.userId}`, body: { role: 'owner' } }),
    ok: 200,
    audit: 'member.change_role',
    effect: async (c) => expect(await roleOf(c, c.member.userId)).toBe('owner'),
  },
  {
    name: 'demote an owner',
    needs: ['members.manage_owners'],
    request: (c) => ({ method: 'PATCH', path: `/v1/org/members/${c.owner.userId}`, body: { role: 'admin' } }),
    ok: 200,
    audit: 'member.change_role',
    effect: async (c) => expect(await roleOf(c, c.owner.userId)).toBe('admin'),
  },
  {
    name: 'remove a member (and revoke their keys)',
    needs: ['members.manage'],
    request: (c) => ({ method: 'DELETE', path: `/v1/org/members/${c.member.userId}` }),
    ok: 204,
    audit: 'member.remove',
    effect: async (c) => {
      expect(await roleOf(c, c.member.userId)).toBeUndefined();
      expect((await keyRow(c.member.keyId))?.revoked_at).toBeInstanceOf(Date);
    },
  },
  {
    name: 'remove an owner',
    needs: ['members.manage_owners'],
    request: (c) => ({ method: 'DELETE', path: `/v1/org/members/${c.owner.userId}` }),
    ok: 204,
    audit: 'member.remove',
    effect: async (c) => expect(await roleOf(c, c.owner.userId)).toBeUndefined(),
  },
  {
    name: 'list keys (all with keys.read_all, else only their own)',
    needs: [],
    shows: 'keys.read_all',
    request: () => ({ method: 'GET', path: '/v1/keys' }),
    ok: 200,
    effect: async (c, a) => {
      const listed = body<{ keys: Array<{ id: string }> }>(a).keys.map((k) => k.id).sort();
      const own = [c.actor.keyId, c.actor.spareKeyId];
      expect(listed).toEqual((can(c.role, 'keys.read_all') ? [...own, c.member.keyId, c.owner.keyId] : own).sort());
    },
  },
  {
    name: 'create a key of their own',
    needs: ['keys.manage_own'],
    request: () => ({ method: 'POST', path: '/v1/keys', body: { name: 'own new key', scopes: ['mcp'] } }),
    ok: 201,
    audit: 'key.create',
    effect: async (c, a) => expect((await keyRow(body<{ key: { id: string } }>(a).key.id))?.user_id).toBe(c.actor.userId),
  },
  {
    name: 'create a key for another member',
    needs: ['keys.manage_all'],
    request: (c) => ({ method: 'POST', path: '/v1/keys', body: { name: 'for a member', userId: c.member.userId } }),
    ok: 201,
    audit: 'key.create',
    effect: async (c, a) => expect((await keyRow(body<{ key: { id: string } }>(a).key.id))?.user_id).toBe(c.member.userId),
  },
  {
    // The new key carries the owner role and its secret goes to the caller: that manages an owner.
    name: 'create a key for an owner',
    needs: ['keys.manage_all', 'members.manage_owners'],
    request: (c) => ({ method: 'POST', path: '/v1/keys', body: { name: 'for an owner', userId: c.owner.userId } }),
    ok: 201,
    audit: 'key.create',
    effect: async (c, a) => expect((await keyRow(body<{ key: { id: string } }>(a).key.id))?.user_id).toBe(c.owner.userId),
  },
  {
    name: 'revoke a key of their own',
    needs: ['keys.manage_own'],
    request: (c) => ({ method: 'POST', path: `/v1/keys/${c.actor.spareKeyId}/revoke` }),
    ok: 200,
    audit: 'key.revoke',
    effect: async (c) => expect((await keyRow(c.actor.spareKeyId))?.revoked_at).toBeInstanceOf(Date),
  },
  {
    name: 'rotate a key of their own',
    needs: ['keys.manage_own'],
    request: (c) => ({ method: 'POST', path: `/v1/keys/${c.actor.spareKeyId}/rotate`, body: { overlapSeconds: 60 } }),
    ok: 201,
    audit: 'key.rotate',
    effect: async (c) => expect(await successorOf(c.actor.spareKeyId)).toEqual([{ id: expect.any(String) as unknown, user_id: c.actor.userId }]),
  },
  {
    name: "revoke another member's key",
    needs: ['keys.manage_all'],
    request: (c) => ({ method: 'POST', path: `/v1/keys/${c.member.keyId}/revoke` }),
    ok: 200,
    audit: 'key.revoke',
    effect: async (c) => expect((await keyRow(c.member.keyId))?.revoked_at).toBeInstanceOf(Date),
  },
  {
    name: "rotate another member's key",
    needs: ['keys.manage_all'],
    request: (c) => ({ method: 'POST', path: `/v1/keys/${c.member.keyId}/rotate`, body: { overlapSeconds: 0 } }),
    ok: 201,
    audit: 'key.rotate',
    effect: async (c) => expect(await successorOf(c.member.keyId)).toEqual([{ id: expect.any(String) as unknown, user_id: c.member.userId }]),
  },
  {
    // Rotation hands the successor's secret (owner role) to the caller: that manages an owner.
    name: "rotate an owner's key",
    needs: ['keys.manage_all', 'members.manage_owners'],
    request: (c) => ({ method: 'POST', path: `/v1/keys/${c.owner.keyId}/rotate`, body: { overlapSeconds: 0 } }),
    ok: 201,
    audit: 'key.rotate',
    effect: async (c) => expect(await successorOf(c.owner.keyId)).toEqual([{ id: expect.any(String) as unknown, user_id: c.owner.userId }]),
  },
  {
    name: 'read the audit log',
    needs: ['audit.read'],
    request: () => ({ method: 'GET', path: '/v1/org/audit' }),
    ok: 200,
    effect: async (_c, a) => expect(Array.isArray(body<{ entries: unknown[] }>(a).entries)).toBe(true),
  },
  {
    name: 'read their own usage',
    needs: ['usage.read_own'],
    request: (c) => ({ method: 'GET', path: `/v1/org/usage?userId=${c.actor.userId}` }),
    ok: 200,
    effect: async (_c, a) => expect(body<{ totals: { calls: number } }>(a).totals.calls).toBe(0),
  },
  {
    name: "read another member's usage",
    needs: ['usage.read_all'],
    request: (c) => ({ method: 'GET', path: `/v1/org/usage?userId=${c.member.userId}` }),
    ok: 200,
    effect: async (_c, a) => expect(Array.isArray(body<{ days: unknown[] }>(a).days)).toBe(true),
  },
];

const ROLES: Role[] = ['owner', 'admin', 'member'];
const CELLS = OPERATIONS.flatMap((op) => ROLES.map((role) => ({ op, role, allowed: op.needs.every((n) => can(role, n)) })));

describe('role × operation', () => {
  it('the table covers every operation of core/rbac.ts', () => {
    expect(new Set(OPERATIONS.flatMap((o) => [...o.needs, ...(o.shows ? [o.shows] : [])]))).toEqual(new Set(Object.keys(RBAC)));
  });

  it.each(CELLS.map((x) => [x.role, x.allowed ? 'may' : 'may not', x.op.name, x] as const))('%s %s %s', async (_r, _m, _n, { op, role, allowed }) => {
    const c = await freshCell(role);
    const before = await snapshotOrg(pool, c.orgId);
    const answer = await send(publicUrl, { ...op.request(c), token: c.actor.key });
    if (!allowed) {
      expect(expectError(answer, 403, 'FORBIDDEN').message).toContain(role);
      expect(await snapshotOrg(pool, c.orgId)).toEqual(before);
      return;
    }
    expect(answer.status, answer.text).toBe(op.ok);
    await op.effect(c, answer);
    if (op.audit) expect(await auditOf(c)).toEqual([{ action: op.audit, actor_type: 'user', actor_id: c.actor.userId }]);
    else expect(await snapshotOrg(pool, c.orgId)).toEqual(before);
  });
});

describe('an organization always keeps an owner', () => {
  const lastOwner = async () => {
    const t = await createTenant(pool);
    return { t, before: await snapshotOrg(pool, t.orgId) };
  };

  it.each([
    ['demote themselves', 'PATCH', { role: 'admin' }],
    ['remove themselves', 'DELETE', undefined],
  ] as const)('the last owner cannot %s: 409 CONFLICT, nothing changed', async (_what, method, reqBody) => {
    const { t, before } = await lastOwner();
    const answer = await send(publicUrl, { method, path: `/v1/org/members/${t.userId}`, token: t.key, ...(reqBody ? { body: reqBody } : {}) });
    expectError(answer, 409, 'CONFLICT');
    expect(await snapshotOrg(pool, t.orgId)).toEqual(before);
  });

  it.each([
    ['demote', 'PATCH', { role: 'member' }],
    ['remove', 'DELETE', undefined],
  ] as const)('staff cannot %s the last owner either (admin API): 409 CONFLICT', async (_what, method, reqBody) => {
    const staff = await createStaffWithToken(pool, { email: `rbac-${process.pid}@staff.test`, name: 'Rbac', tokenName: `rbac ${method}` });
    const { t, before } = await lastOwner();
    const answer = await send(stack.adminUrl, { method, path: `/admin/v1/orgs/${t.orgId}/members/${t.userId}`, token: staff.token, ...(reqBody ? { body: reqBody } : {}) });
    expectError(answer, 409, 'CONFLICT');
    expect(await snapshotOrg(pool, t.orgId)).toEqual(before);
  });

  it('an admin trying to demote the last owner is refused for the role first (403)', async () => {
    const c = await createTenant(pool, { role: 'admin' });
    const owner = (await pool.query<{ user_id: string }>("SELECT user_id FROM memberships WHERE org_id = $1 AND role = 'owner'", [c.orgId])).rows[0]!.user_id;
    const before = await snapshotOrg(pool, c.orgId);
    expectError(await send(publicUrl, { method: 'PATCH', path: `/v1/org/members/${owner}`, token: c.key, body: { role: 'member' } }), 403, 'FORBIDDEN');
    expect(await snapshotOrg(pool, c.orgId)).toEqual(before);
  });
});

describe('key scopes', () => {
  it.each([[['mcp']], [['account', 'mcp']]])('a key with only "account" cannot create a key with %j (403, nothing changed)', async (scopes) => {
    const c = await freshCell('owner', ['account']);
    const before = await snapshotOrg(pool, c.orgId);
    const error = expectError(await send(publicUrl, { method: 'POST', path: '/v1/keys', token: c.actor.key, body: { name: 'wider', scopes } }), 403, 'FORBIDDEN');
    expect(error.message).toContain('mcp');
    expect(await snapshotOrg(pool, c.orgId)).toEqual(before);
  });

  it('a key with only "account" may create a key with "account"', async () => {
    const c = await freshCell('owner', ['account']);
    const answer = await send(publicUrl, { method: 'POST', path: '/v1/keys', token: c.actor.key, body: { name: 'same', scopes: ['account'] } });
    expect(answer.status).toBe(201);
    expect(body<{ key: { scopes: string[] } }>(answer).key.scopes).toEqual(['account']);
  });

  it.each([
    ['GET', '/v1/me', undefined],
    ['GET', '/v1/keys', undefined],
    ['POST', '/v1/keys', { name: 'escalate', scopes: ['mcp', 'account'] }],
    ['PATCH', '/v1/org', { name: 'Renamed without scope' }],
  ] as const)('a key without "account" is refused on %s %s (403, nothing changed)', async (method, path, reqBody) => {
    const c = await freshCell('owner', ['mcp']);
    const before = await snapshotOrg(pool, c.orgId);
    const error = expectError(await send(publicUrl, { method, path, token: c.actor.key, ...(reqBody ? { body: reqBody } : {}) }), 403, 'FORBIDDEN');
    expect(error.message).toContain('account');
    expect(await snapshotOrg(pool, c.orgId)).toEqual(before);
  });

  const toolsList = (key: string) =>
    fetch(stack.mcpUrl, {
      method: 'POST',
      headers: modernHeaders(key, 'tools/list'),
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } }),
    });

  it('a key without "mcp" is refused on /mcp (403, JSON-RPC error FORBIDDEN); with "mcp" it is served', async () => {
    const accountOnly = await freshCell('owner', ['account']);
    const refused = await toolsList(accountOnly.actor.key);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32052, data: { code: 'FORBIDDEN', scope: 'mcp' } } });

    const mcp = await freshCell('owner', ['mcp']);
    expect((await toolsList(mcp.actor.key)).status).toBe(200);
  });
});
