import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Pool } from '../../platform/pg/pool.js';
import { httpClient } from '../support/mcp-clients.js';
import { ownerPool, startGateway, startWorker, type TestGateway, type TestWorker } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';

/**
 * Graceful shutdown of a gateway (what SIGTERM runs): readiness goes false, new connections
 * are refused, the HTTP call and the WebSocket call already running finish and are
 * answered, and the WebSocket session then gets its close frame (1001), all within the
 * drain time.
 */
let pool: Pool;
let stack: TestGateway;
let worker: TestWorker;
let pro: TestTenant;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway({ TOLLGATE_SHUTDOWN_GRACE: '30 s' });
  worker = await startWorker(stack.config);
  pro = await createTenant(pool, { plan: 'pro' });
});

afterAll(async () => {
  await worker?.stop();
  await stack?.close();
  await pool?.end();
});

/** Seconds of work in a few checkpointed steps: long enough to be running when the drain starts. */
const CALL = { name: 'count_primes', arguments: { from: 0, to: 40_000_000, steps: 8 } };

/** A raw MCP session over WebSocket: each frame it receives, and how it closed. */
async function webSocketSession(url: string, key: string) {
  const socket = new WebSocket(url, ['mcp'], { headers: { authorization: `Bearer ${key}` } });
  const frames: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  /** What the client saw, in order: `frame:<id>` for each answer, `close` last. */
  const events: string[] = [];
  socket.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    frames.push(frame);
    if (typeof frame.id === 'number' || typeof frame.id === 'string') events.push(`frame:${frame.id}`);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => {
      events.push('close');
      resolve({ code, reason: reason.toString() });
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const send = (msg: unknown) => socket.send(JSON.stringify(msg));
  const frame = async (match: (f: Record<string, unknown>) => boolean) => {
    for (;;) {
      const found = frames.find(match);
      if (found) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'drain-test', version: '1' } } });
  await frame((f) => f.id === 0);
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { socket, send, frame, closed, events };
}

describe('graceful drain', () => {
  it('finishes running calls on both transports, refuses new connections, then closes WebSockets with 1001', async () => {
    const ws = await webSocketSession(stack.wsUrl, pro.key);
    ws.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { ...CALL, _meta: { progressToken: 'ws-call' } } });
    const http = await httpClient(stack.mcpUrl, pro.key, 'modern');
    let httpProgress!: () => void;
    const httpRunning = new Promise<void>((resolve) => (httpProgress = resolve));
    const httpCall = http.callTool(CALL, { onprogress: () => httpProgress(), timeout: 60_000 });

    // Both calls are running (each has reported progress) when the drain starts.
    await ws.frame((f) => f.method === 'notifications/progress');
    await httpRunning;
    const closing = stack.gateway.close();

    expect(stack.gateway.readiness.isDraining).toBe(true);
    // A new connection is refused (the listener no longer accepts).
    await expect(fetch(stack.mcpUrl, { method: 'POST', body: '{}' })).rejects.toThrow();

    const httpResult = await httpCall;
    expect(httpResult.isError).toBeFalsy();
    expect(httpResult.structuredContent).toMatchObject({ from: 0, to: 40_000_000 });
    const wsResult = await ws.frame((f) => f.id === 1);
    expect(wsResult).toMatchObject({ id: 1, result: { structuredContent: { from: 0, to: 40_000_000 } } });

    const close = await ws.closed;
    expect(close).toMatchObject({ code: 1001, reason: 'server shutting down' });
    // The close frame came after the answer, not before.
    expect(ws.events.indexOf('frame:1')).toBeGreaterThanOrEqual(0);
    expect(ws.events.indexOf('frame:1')).toBeLessThan(ws.events.indexOf('close'));
    await closing;
    await http.close().catch(() => {});
  });
});
