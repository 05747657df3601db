import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Pool } from '../../platform/pg/pool.js';
import { createPlan, loadPlans } from '../../platform/tenancy/plans-repo.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { modernHeaders, MODERN_META } from '../support/mcp-clients.js';
import { spawnGateway, type GatewayProcess } from '../support/processes.js';
import { ownerPool } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

/**
 * Two real gateway processes sharing Postgres and Redis: a key revoked through one stops
 * working on the other within a second, and a plan edited through one applies on the other
 * within seconds, with no restart.
 */
let pool: Pool;
let a: GatewayProcess;
let b: GatewayProcess;
let staffToken: string;

beforeAll(async () => {
  pool = ownerPool();
  // A long key cache proves the invalidation, not the cache expiry, does the work. The
  // polling below outruns the per-replica pre-auth IP guard, which is not under test here.
  const common = { TOLLGATE_KEY_CACHE_TTL: '10 min', TOLLGATE_PREAUTH_IP_PER_MINUTE: '1000000' };
  [a, b] = await Promise.all([spawnGateway(common), spawnGateway({ ...common, TOLLGATE_PLAN_REFRESH: '10 min' })]);
  staffToken = (await createStaffWithToken(pool, { email: `ops-${Date.now()}@replicas.test`, name: 'Ops', tokenName: 'replicas test' })).token;
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await pool?.end();
});

const listTools = (gateway: GatewayProcess, key: string) =>
  fetch(gateway.mcpUrl, {
    method: 'POST',
    headers: modernHeaders(key, 'tools/list'),
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } }),
  });

const callTextStats = (gateway: GatewayProcess, key: string) =>
  fetch(gateway.mcpUrl, {
    method: 'POST',
    headers: modernHeaders(key, 'tools/call', 'text_stats'),
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'text_stats', arguments: { text: 'x' }, _meta: MODERN_META } }),
  });

const admin = (path: string, method: string, body?: unknown) =>
  fetch(`${a.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

describe('two gateway replicas', () => {
  it('a key revoked on one replica stops working on the other within 1 s, and its WebSocket sessions close', async () => {
    const tenant = await createTenant(pool, { plan: 'pro' });
    expect((await listTools(a, tenant.key)).status).toBe(200);
    expect((await listTools(b, tenant.key)).status).toBe(200); // cached on b now
    const socket = new WebSocket(b.mcpUrl.replace(/^http/, 'ws'), ['mcp'], { headers: { authorization: `Bearer ${tenant.key}` } });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

    const revoked = await admin(`/admin/v1/orgs/${tenant.orgId}/keys/${tenant.keyId}/revoke`, 'POST');
    expect(revoked.status).toBe(200);
    const t0 = Date.now();
    let status = 200;
    while (status !== 401 && Date.now() - t0 < 5_000) status = (await listTools(b, tenant.key)).status;
    const elapsed = Date.now() - t0;
    expect(status).toBe(401);
    expect(elapsed).toBeLessThan(1_000);
    expect(await closed).toBe(1008);
  });

  it('a plan edited through one replica applies on the other within seconds', async () => {
    const planId = `replica${Date.now().toString(36)}`;
    const plans = (await (await admin('/admin/v1/plans', 'GET')).json()) as { plans: Array<Record<string, unknown>> };
    const pro = plans.plans.find((p) => p.id === 'pro')!;
    expect((await admin('/admin/v1/plans', 'POST', { ...pro, id: planId, name: 'Replica test', rank: 10, allowedTools: ['text_stats'] })).status).toBe(201);
    const tenant = await createTenant(pool, { plan: planId });
    expect((await admin(`/admin/v1/plans/${planId}`, 'PATCH', { limits: { perKey: { perMinute: 2 } } })).status).toBe(200);
    const t0 = Date.now();
    // b reloads plans only every 10 minutes by timer; the edit must reach it by event.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await callTextStats(b, tenant.key)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('a plan created a moment ago, without an event, works at once on a replica that has not loaded it', async () => {
    // Written straight to the database: no plans-changed event, and b's timer is 10 minutes.
    const [pro] = (await loadPlans(pool)).filter((p) => p.id === 'pro');
    const planId = `silent${Date.now().toString(36)}`;
    const client = await pool.connect();
    try {
      await createPlan(client, { ...pro!, id: planId, name: 'Silent plan', rank: 11, allowedTools: ['text_stats'] });
    } finally {
      client.release();
    }
    const tenant = await createTenant(pool, { plan: planId });
    const res = await callTextStats(b, tenant.key);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result?: { isError?: boolean } }).result?.isError).toBeFalsy();
  });
});
