import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KeyAuthenticator } from '../../gateway/src/auth/key-authenticator.js';
import { PlanCache } from '../../gateway/src/auth/plan-cache.js';
import type { Pool } from '../../platform/pg/pool.js';
import { modernHeaders, MODERN_META } from '../support/mcp-clients.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';

/** Create (secret once), list (prefix only), use, expire, rotate with overlap, revoke. */
let stack: TestGateway;
let pool: Pool;
let owner: TestTenant;
let base: string;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway({ TOLLGATE_LAST_USED_FLUSH: '200 ms' });
  base = stack.mcpUrl.replace(/\/mcp$/, '');
  owner = await createTenant(pool, { plan: 'pro' });
});

afterAll(async () => {
  await stack?.close();
  await pool?.end();
});

interface KeyOut {
  id: string;
  prefix: string;
  status: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

const account = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${owner.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const mcpStatus = async (key: string) =>
  (
    await fetch(stack.mcpUrl, {
      method: 'POST',
      headers: modernHeaders(key, 'tools/list'),
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } }),
    })
  ).status;

describe('API key lifecycle', () => {
  it('shows the secret once at creation; lists show the prefix only', async () => {
    const created = await account('POST', '/v1/keys', { name: 'lifecycle key' });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    const key = created.body.key as KeyOut;
    expect(secret).toMatch(new RegExp(`^tg_${key.prefix}_[1-9A-HJ-NP-Za-km-z]{32}$`));
    const listed = await account('GET', '/v1/keys');
    const text = JSON.stringify(listed.body);
    expect(text).toContain(key.prefix);
    expect(text).not.toContain(secret.split('_')[2]);
    expect(text).not.toMatch(/secret/i);
    expect(await mcpStatus(secret)).toBe(200);
  });

  it('records last use in batches, not on the request', async () => {
    const created = await account('POST', '/v1/keys', { name: 'last used' });
    const key = created.body.key as KeyOut;
    expect(key.lastUsedAt).toBeNull();
    expect(await mcpStatus(created.body.secret as string)).toBe(200);
    await vi.waitFor(
      async () => {
        const { rows } = await pool.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_keys WHERE id = $1', [key.id]);
        expect(rows[0]!.last_used_at).not.toBeNull();
      },
      { timeout: 5_000, interval: 100 },
    );
  });

  it('stops working when it expires', async () => {
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const created = await account('POST', '/v1/keys', { name: 'short lived', expiresAt });
    const secret = created.body.secret as string;
    expect(await mcpStatus(secret)).toBe(200);
    await vi.waitFor(async () => expect(await mcpStatus(secret)).toBe(401), { timeout: 5_000, interval: 200 });
    const listed = (await account('GET', '/v1/keys')).body.keys as KeyOut[];
    expect(listed.find((k) => k.id === (created.body.key as KeyOut).id)?.status).toBe('expired');
  });

  it('rotates with an overlap window: both keys work, then only the new one', async () => {
    const created = await account('POST', '/v1/keys', { name: 'rotated' });
    const old = created.body.secret as string;
    const rotated = await account('POST', `/v1/keys/${(created.body.key as KeyOut).id}/rotate`, { overlapSeconds: 2 });
    expect(rotated.status).toBe(201);
    const next = rotated.body.secret as string;
    expect((rotated.body.previous as KeyOut).expiresAt).not.toBeNull();
    expect((rotated.body.key as KeyOut & { rotatedFrom: string }).rotatedFrom).toBe((created.body.key as KeyOut).id);
    expect(await mcpStatus(next)).toBe(200);
    expect(await mcpStatus(old)).toBe(200);
    await vi.waitFor(async () => expect(await mcpStatus(old)).toBe(401), { timeout: 6_000, interval: 200 });
    expect(await mcpStatus(next)).toBe(200);
  });

  it('revokes at once; a second revoke is a conflict', async () => {
    const created = await account('POST', '/v1/keys', { name: 'revoked' });
    const secret = created.body.secret as string;
    expect(await mcpStatus(secret)).toBe(200);
    const id = (created.body.key as KeyOut).id;
    expect((await account('POST', `/v1/keys/${id}/revoke`)).status).toBe(200);
    expect(await mcpStatus(secret)).toBe(401);
    const again = await account('POST', `/v1/keys/${id}/revoke`);
    expect(again.status).toBe(409);
    expect((again.body.error as { code: string }).code).toBe('CONFLICT');
  });

  it('never caches a key read before its revocation, even when the read was still in flight', async () => {
    const created = await account('POST', '/v1/keys', { name: 'racing revoke' });
    const secret = created.body.secret as string;
    const key = created.body.key as KeyOut;
    const plans = new PlanCache(pool, 60_000, () => {});
    await plans.reload();
    // The key store answers only when the test says so, so the read surely predates the revoke.
    let readDone!: () => void;
    let answer!: () => void;
    const read = new Promise<void>((r) => (readDone = r));
    const gate = new Promise<void>((r) => (answer = r));
    const heldPool = {
      query: async (...args: Parameters<Pool['query']>) => {
        const result = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
        readDone();
        await gate;
        return result;
      },
    } as unknown as Pool;
    const authenticator = new KeyAuthenticator(heldPool, plans, 60_000);
    const racing = authenticator.authenticate(secret);
    await read;
    await pool.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [key.id]);
    authenticator.invalidate({ keyId: key.id, prefix: key.prefix });
    answer();
    // The racing call overlapped the revoke, so it may pass; what follows must not.
    await expect(racing).resolves.toMatchObject({ keyId: key.id });
    await expect(authenticator.authenticate(secret)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('never stores or logs a key or its secret in clear', async () => {
    const created = await account('POST', '/v1/keys', { name: 'clear text check' });
    const secret = (created.body.secret as string).split('_')[2]!;
    expect(await mcpStatus(created.body.secret as string)).toBe(200);
    const { rows } = await pool.query<{ dump: string }>(
      `SELECT concat_ws(' ', (SELECT string_agg(t::text, ' ') FROM api_keys t), (SELECT string_agg(t::text, ' ') FROM audit_log t),
                             encode((SELECT secret_hash FROM api_keys WHERE prefix = $1), 'escape')) AS dump`,
      [(created.body.key as KeyOut).prefix],
    );
    expect(rows[0]!.dump).not.toContain(secret);
    expect(stack.logs.text).not.toContain(secret);
    expect(stack.logs.text).not.toContain(owner.key.split('_')[2]!);
  });
});
