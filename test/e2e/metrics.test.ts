import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Pool } from '../../platform/pg/pool.js';
import { httpClient, modernHeaders, MODERN_META, wsClient } from '../support/mcp-clients.js';
import { freePorts } from '../support/ports.js';
import { spawnWorker } from '../support/processes.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

/**
 * `/metrics` tells the truth about what a running gateway did: a known scenario (calls that
 * succeed, fail their arguments, are refused; a WebSocket session; a refused upgrade; a
 * 2025-era session) moves each counter by exactly what happened. And a worker serves the
 * Temporal runtime's metrics on its own port.
 */
let pool: Pool;
let stack: TestGateway;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
});

afterAll(async () => {
  await stack?.close();
  await pool?.end();
});

/** Every sample of the scrape, keyed `name{labels}` as Prometheus prints them. */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const sample = (m: Map<string, number>, key: string) => m.get(key) ?? 0;

let rpcId = 0;
const call = (key: string, tool: string, args: Record<string, unknown>) =>
  fetch(stack.mcpUrl, {
    method: 'POST',
    headers: modernHeaders(key, 'tools/call', tool),
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'tools/call', params: { name: tool, arguments: args, _meta: MODERN_META } }),
  });

describe('gateway metrics', () => {
  it('count calls by tier, tool and outcome, MCP requests, connections, handshake failures and HTTP requests', async () => {
    const t = await createTenant(pool, { plan: 'pro' });
    const metricsUrl = `${stack.statusUrl}/metrics`;
    const before = await scrape(metricsUrl);

    expect((await call(t.key, 'text_stats', { text: 'a b' })).status).toBe(200);
    expect((await call(t.key, 'text_stats', { text: 'c' })).status).toBe(200);
    expect((await call(t.key, 'text_stats', { text: 7 })).status).toBe(200); // isError: bad arguments
    expect((await call(t.key, 'noop', {})).status).toBe(403); // not in Pro
    const ws = await wsClient(stack.wsUrl, t.key);
    await ws.listTools();
    await ws.close();
    const refused = await new Promise<number>((resolve) => {
      const socket = new WebSocket(stack.wsUrl, ['mcp', 'bearer.tg_not_a_key']);
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('error', () => {});
    });
    expect(refused).toBe(401);
    const legacy = await httpClient(stack.mcpUrl, t.key, 'legacy');
    await legacy.close();

    const after = await scrape(metricsUrl);
    const delta = (key: string) => sample(after, key) - sample(before, key);
    expect(delta('tollgate_mcp_calls_total{tier="pro",tool="text_stats",outcome="ok"}')).toBe(2);
    expect(delta('tollgate_mcp_calls_total{tier="pro",tool="text_stats",outcome="tool_error"}')).toBe(1);
    expect(delta('tollgate_mcp_calls_total{tier="pro",tool="noop",outcome="refused"}')).toBe(1);
    expect(delta('tollgate_mcp_call_duration_seconds_count{tier="pro",tool="text_stats"}')).toBe(3);
    expect(delta('tollgate_mcp_requests_total{transport="http",method="tools/call",tier="pro",outcome="ok"}')).toBe(3);
    expect(delta('tollgate_mcp_requests_total{transport="http",method="tools/call",tier="pro",outcome="error"}')).toBe(1);
    expect(delta('tollgate_mcp_requests_total{transport="ws",method="tools/list",tier="pro",outcome="ok"}')).toBe(1);
    expect(delta('tollgate_mcp_requests_total{transport="ws",method="initialize",tier="pro",outcome="ok"}')).toBe(1);
    expect(delta('tollgate_mcp_connections_opened_total{transport="ws"}')).toBe(1);
    expect(delta('tollgate_mcp_connections_opened_total{transport="http-session"}')).toBe(1);
    expect(delta('tollgate_mcp_handshake_failures_total{transport="ws",reason="unauthenticated"}')).toBe(1);
    expect(delta('tollgate_http_requests_total{listener="public",route="/mcp",status="2xx",tier="pro"}')).toBeGreaterThanOrEqual(3);
    expect(delta('tollgate_http_requests_total{listener="public",route="/mcp",status="4xx",tier="pro"}')).toBe(1);
    expect(sample(after, 'tollgate_inflight_calls')).toBe(0);
    // Closed connections come back down (the close is observed asynchronously).
    await expect.poll(async () => sample(await scrape(metricsUrl), 'tollgate_mcp_open_connections{transport="ws"}'), { timeout: 5_000, interval: 50 }).toBe(0);
  });
});

describe('worker metrics', () => {
  it("a worker serves the Temporal runtime's Prometheus metrics on TOLLGATE_WORKER_METRICS_ADDRESS", async () => {
    const [port] = await freePorts(1);
    const worker = await spawnWorker({ TOLLGATE_WORKER_METRICS_ADDRESS: `127.0.0.1:${port}` });
    try {
      await expect
        .poll(
          async () => {
            const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
            return /^temporal_worker_task_slots_available\{/m.test(text);
          },
          { timeout: 15_000, interval: 200 },
        )
        .toBe(true);
    } finally {
      await worker.stop();
    }
  });
});
