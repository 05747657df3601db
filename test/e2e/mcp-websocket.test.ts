import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Pool } from '../../platform/pg/pool.js';
import { wsClient } from '../support/mcp-clients.js';
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

/** A raw WebSocket client: resolves once open, queues every frame it receives. */
async function rawSocket(url: string, protocols: string[] = ['mcp'], headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, protocols, { headers });
  const frames: unknown[] = [];
  const waiters: Array<(v: unknown) => void> = [];
  socket.on('message', (data: Buffer) => {
    const value = JSON.parse(data.toString('utf8')) as unknown;
    const w = waiters.shift();
    if (w) w(value);
    else frames.push(value);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    send: (msg: unknown) => socket.send(typeof msg === 'string' ? msg : JSON.stringify(msg)),
    next: () => (frames.length ? Promise.resolve(frames.shift()) : new Promise((resolve) => waiters.push(resolve))),
  };
}

const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

describe('WebSocket MCP (SDK v1 WebSocketClientTransport over ws, subprotocol mcp)', () => {
  it('initializes, lists tools and calls both tools with progress', async () => {
    const client = await wsClient(stack.wsUrl, pro.key);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['count_primes', 'text_stats', 'usage_report']);
      const inline = await client.callTool({ name: 'text_stats', arguments: { text: 'a b c' } });
      expect(inline.structuredContent).toMatchObject({ words: 3 });
      const progress: number[] = [];
      const long = await client.callTool(
        { name: 'count_primes', arguments: { to: 1_000_000, steps: 3 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(long.structuredContent).toMatchObject({ count: 78_498, largestPrime: 999_983 });
      expect(progress).toEqual([1, 2, 3]);
    } finally {
      await client.close();
    }
  });

  it('negotiates the mcp subprotocol and accepts the key as a subprotocol entry, never echoing it', async () => {
    const ws = await rawSocket(stack.wsUrl, ['mcp', `bearer.${pro.key}`]);
    expect(ws.socket.protocol).toBe('mcp');
    ws.send(initialize);
    expect(await ws.next()).toMatchObject({ id: 0, result: { serverInfo: { name: 'tollgate' } } });
    ws.socket.close();
  });

  it('answers a malformed frame with a parse error and keeps the session going', async () => {
    const ws = await rawSocket(stack.wsUrl, ['mcp'], { authorization: `Bearer ${pro.key}` });
    ws.send(initialize);
    await ws.next();
    ws.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    ws.send('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(await ws.next()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.stringMatching(/Parse error/) as unknown } });
    ws.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect(await ws.next()).toMatchObject({ id: 2, result: { tools: expect.any(Array) as unknown } });
    ws.socket.close();
  });

  it('refuses the upgrade with 401 for a bad or missing key', async () => {
    for (const protocols of [['mcp'], ['mcp', 'bearer.tg_nope']]) {
      const status = await new Promise<number>((resolve) => {
        const socket = new WebSocket(stack.wsUrl, protocols);
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.on('open', () => resolve(101));
        socket.on('error', () => {});
      });
      expect(status).toBe(401);
    }
  });

  it('never logs the key, whichever way it was sent', async () => {
    const viaQuery = new URL(stack.wsUrl);
    viaQuery.searchParams.set('access_token', pro.key);
    const a = await rawSocket(viaQuery.toString());
    const b = await rawSocket(stack.wsUrl, ['mcp', `bearer.${pro.key}`]);
    for (const ws of [a, b]) {
      ws.send(initialize);
      await ws.next();
      ws.socket.close();
    }
    const secret = pro.key.split('_')[2]!;
    expect(stack.logs.lines.length).toBeGreaterThan(0);
    expect(stack.logs.text).not.toContain(secret);
    expect(stack.logs.text).toContain('[redacted]');
  });
});
