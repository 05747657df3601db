import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Pool } from '../../platform/pg/pool.js';
import { httpClient, modernHeaders, MODERN_META, wsClient } from '../support/mcp-clients.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

let stack: TestGateway;
let pool: Pool;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
});

afterAll(async () => {
  await stack?.close();
  await pool?.end();
});

const callTextStats = (key: string, id: number) =>
  fetch(stack.mcpUrl, {
    method: 'POST',
    headers: modernHeaders(key, 'tools/call', 'text_stats'),
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'text_stats', arguments: { text: 'hi' }, _meta: MODERN_META } }),
  });

/** `tollgate_admission_refusals_total{reason,tier}` from the status listener's /metrics. */
async function refusalCount(reason: string, tier: string): Promise<number> {
  const text = await (await fetch(`${stack.statusUrl}/metrics`)).text();
  const m = new RegExp(`^tollgate_admission_refusals_total\\{reason="${reason}",tier="${tier}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('per-key calls per minute (Free: 5)', () => {
  it('refuses the sixth call within a minute with 429, Retry-After and a JSON-RPC error body', async () => {
    const free = await createTenant(pool, { plan: 'free' });
    for (let i = 1; i <= 5; i++) expect((await callTextStats(free.key, i)).status).toBe(200);
    const res = await callTextStats(free.key, 6);
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(12);
    const body = (await res.json()) as { jsonrpc: string; id: number; error: { code: number; message: string; data: Record<string, unknown> } };
    expect(body).toMatchObject({ jsonrpc: '2.0', id: 6, error: { code: -32053 } });
    expect(body.error.data).toMatchObject({ code: 'RATE_LIMITED', reason: 'rate', plan: 'free', limit: 5 });
    expect(body.error.data.retryAfterMs).toBeGreaterThan(0);
    expect(body.error.data.remaining).toBe(0);
    expect(body.error.data.upgradeUrl).toMatch(/^http/);
    expect(body.error.message).toMatch(/^Free allows 5 calls per minute per API key; retry in \d+ s or upgrade at http/);
    expect(res.headers.get('ratelimit-policy')).toBe('"rate";q=5;w=60');
    expect(res.headers.get('ratelimit')).toBe(`"rate";r=0;t=${retryAfter}`);
  });

  it('logs every refusal with user, organization, tier and reason, and counts it in a metric', async () => {
    const free = await createTenant(pool, { plan: 'free' });
    const before = await refusalCount('rate', 'free');
    for (let i = 1; i <= 6; i++) await callTextStats(free.key, i);
    const logged = stack.logs.entries('mcp request refused').filter((e) => e.orgId === free.orgId);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ userId: free.userId, plan: 'free', reason: 'rate', code: 'RATE_LIMITED', method: 'tools/call' });
    expect(await refusalCount('rate', 'free')).toBe(before + 1);
  });

  it('counts per key: another key of another tenant is unaffected', async () => {
    const a = await createTenant(pool, { plan: 'free' });
    const b = await createTenant(pool, { plan: 'free' });
    for (let i = 1; i <= 5; i++) await callTextStats(a.key, i);
    expect((await callTextStats(a.key, 6)).status).toBe(429);
    expect((await callTextStats(b.key, 1)).status).toBe(200);
  });

  it('refuses over WebSocket with a JSON-RPC error whose data has reason, retryAfterMs and plan', async () => {
    const free = await createTenant(pool, { plan: 'free' });
    const client = await wsClient(stack.wsUrl, free.key);
    try {
      for (let i = 0; i < 5; i++) await client.callTool({ name: 'text_stats', arguments: { text: 'x' } });
      const refused = await client.callTool({ name: 'text_stats', arguments: { text: 'x' } }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(McpError);
      expect((refused as McpError).code).toBe(-32053);
      expect((refused as McpError).data).toMatchObject({
        code: 'RATE_LIMITED',
        reason: 'rate',
        plan: 'free',
        limit: 5,
        remaining: 0,
        retryAfterMs: expect.any(Number) as unknown,
        upgradeUrl: expect.stringMatching(/^http/) as unknown,
      });
      expect((refused as McpError).message).toMatch(/Free allows 5 calls per minute per API key; retry in \d+ s or upgrade at http/);
    } finally {
      await client.close();
    }
  });
});

describe('tools outside the plan', () => {
  it('hides them from tools/list and refuses a call with a 403-class error', async () => {
    const free = await createTenant(pool, { plan: 'free' });
    const client = await httpClient(stack.mcpUrl, free.key, 'modern');
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['text_stats']);
    } finally {
      await client.close();
    }
    const res = await fetch(stack.mcpUrl, {
      method: 'POST',
      headers: modernHeaders(free.key, 'tools/call', 'count_primes'),
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'count_primes', arguments: { to: 10 }, _meta: MODERN_META } }),
    });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: { code: number; data: Record<string, unknown> } };
    expect(body.error.code).toBe(-32052);
    expect(body.error.data).toMatchObject({ code: 'TOOL_NOT_IN_PLAN', tool: 'count_primes', plan: 'free' });
  });
});
