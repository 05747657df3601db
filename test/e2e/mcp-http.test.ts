import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Pool } from '../../platform/pg/pool.js';
import { httpClient, modernHeaders, MODERN_META } from '../support/mcp-clients.js';
import { ownerPool, startGateway, startWorker, type TestGateway, type TestWorker } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';

let stack: TestGateway;
let worker: TestWorker;
let pool: Pool;
let pro: TestTenant;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  worker = await startWorker(stack.config);
  pro = await createTenant(pool, { plan: 'pro' });
});

afterAll(async () => {
  await worker?.stop();
  await stack?.close();
  await pool?.end();
});

describe.each(['modern', 'legacy'] as const)('Streamable HTTP, %s era (SDK v2 client)', (era) => {
  let client: Client;
  beforeAll(async () => {
    client = await httpClient(stack.mcpUrl, pro.key, era);
  });
  afterAll(async () => {
    await client?.close();
  });

  it('connects on the requested era', () => {
    expect(client.getProtocolEra()).toBe(era);
  });

  it('lists the plan’s tools with names, descriptions and valid JSON Schema inputs', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['count_primes', 'text_stats', 'usage_report']);
    const ajv = new Ajv2020({ strict: false });
    for (const tool of tools) {
      expect(tool.description).toMatch(/\w{10,}/);
      expect(tool.inputSchema.type).toBe('object');
      expect(() => ajv.compile(tool.inputSchema)).not.toThrow();
    }
    const textStats = tools.find((t) => t.name === 'text_stats')!;
    const validate = ajv.compile(textStats.inputSchema);
    expect(validate({ text: 'hello' })).toBe(true);
    expect(validate({ text: 42 })).toBe(false);
  });

  it('calls the inline tool', async () => {
    const result = await client.callTool({ name: 'text_stats', arguments: { text: 'One fish. Two fish!', topWords: 1 } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ words: 4, sentences: 2, topWords: [{ word: 'fish', count: 2 }] });
  });

  it('runs the long tool as a workflow with progress notifications', async () => {
    const progress: Array<{ progress: number; total?: number }> = [];
    const result = await client.callTool(
      { name: 'count_primes', arguments: { from: 0, to: 2_000_000, steps: 4 } },
      { onprogress: (p) => progress.push(p) },
    );
    expect(result.structuredContent).toEqual({ from: 0, to: 2_000_000, count: 148_933, largestPrime: 1_999_993, steps: 4 });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.map((p) => p.progress)).toEqual([...progress.map((p) => p.progress)].sort((a, b) => a - b));
    expect(progress.at(-1)).toMatchObject({ progress: 4, total: 4 });
  });

  it('answers invalid arguments with an isError result the model can act on', async () => {
    const result = await client.callTool({ name: 'text_stats', arguments: { text: 42 } });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toMatch(/text/);
  });
});

describe('authentication over HTTP', () => {
  it('refuses a missing key with 401 and a JSON-RPC error body', async () => {
    const res = await fetch(stack.mcpUrl, {
      method: 'POST',
      headers: { ...modernHeaders('x', 'tools/list'), authorization: '' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const body = (await res.json()) as { error: { data: { code: string } } };
    expect(body.error.data.code).toBe('UNAUTHENTICATED');
  });

  it.each(['modern', 'legacy'] as const)('refuses a bad key: the %s client cannot connect', async (era) => {
    const forged = pro.key.slice(0, -4) + 'zzzz';
    await expect(httpClient(stack.mcpUrl, forged, era)).rejects.toThrow(/401|UNAUTHENTICATED/);
  });
});

describe('server/discover', () => {
  it('answers a probe with the supported revision, never a 5xx', async () => {
    const res = await fetch(stack.mcpUrl, {
      method: 'POST',
      headers: modernHeaders(pro.key, 'server/discover'),
      body: JSON.stringify({ jsonrpc: '2.0', id: 'probe', method: 'server/discover', params: { _meta: MODERN_META } }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { supportedVersions: string[]; capabilities: { tools?: object } } };
    expect(body.result.supportedVersions).toContain('2026-07-28');
    expect(body.result.capabilities.tools).toBeDefined();
  });

  it('answers malformed probes with 4xx, never 5xx', async () => {
    const probes = [
      { headers: modernHeaders(pro.key, 'server/discover'), body: '{"jsonrpc":"2.0","id":1,"method":"server/discover"' },
      { headers: modernHeaders(pro.key, 'server/discover'), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover' }) },
      { headers: modernHeaders(pro.key, 'tools/list'), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: MODERN_META } }) },
      { headers: { ...modernHeaders(pro.key, 'server/discover'), 'content-type': 'text/plain' }, body: 'hello' },
      { headers: modernHeaders('tg_bad', 'server/discover'), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: MODERN_META } }) },
    ];
    for (const probe of probes) {
      const res = await fetch(stack.mcpUrl, { method: 'POST', headers: probe.headers, body: probe.body });
      expect(res.status, probe.body).toBeGreaterThanOrEqual(400);
      expect(res.status, probe.body).toBeLessThan(500);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
    }
  });
});

describe('the /mcp path', () => {
  it('never answers with HTML or a redirect', async () => {
    for (const [method, path] of [
      ['GET', '/mcp'],
      ['PUT', '/mcp'],
      ['GET', '/mcp/'],
      ['POST', '/mcp/'],
    ] as const) {
      const res = await fetch(stack.mcpUrl.replace(/\/mcp$/, path), { method, headers: { authorization: `Bearer ${pro.key}` }, redirect: 'manual' });
      expect(res.status === 301 || res.status === 302 || res.status === 307 || res.status === 308, `${method} ${path}`).toBe(false);
      expect(res.headers.get('content-type') ?? '', `${method} ${path}`).not.toMatch(/html/);
    }
  });
});
