import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { admissionFields, redisKeys } from '../../core/redis-keys.js';
import type { Pool } from '../../platform/pg/pool.js';
import { MODERN_META, modernHeaders } from '../support/mcp-clients.js';
import { ownerPool, startGateway, startWorker, type TestGateway, type TestWorker } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';

/**
 * MCP tasks (2025-11-25) over workflow tools: a task-augmented tools/call answers at once;
 * the client drops its connection, the gateway that started the task goes away, and another
 * gateway replica answers tasks/get and tasks/result from Temporal. Another organization's
 * key finds no such task. tasks/cancel stops the work; the call's concurrency lease and
 * quota unit come back, and its usage is recorded once by the workflow, not the gateway.
 */
let pool: Pool;
let first: TestGateway;
let second: TestGateway;
let worker: TestWorker;
let redis: Redis;
let a: TestTenant;
let b: TestTenant;

beforeAll(async () => {
  pool = ownerPool();
  [first, second] = await Promise.all([startGateway(), startGateway()]);
  worker = await startWorker(first.config);
  redis = new Redis(first.config.redis.url);
  [a, b] = await Promise.all([createTenant(pool, { plan: 'pro' }), createTenant(pool, { plan: 'pro' })]);
});

afterAll(async () => {
  redis?.disconnect();
  await worker?.stop();
  await Promise.allSettled([first?.close(), second?.close()]);
  await pool?.end();
});

type Frame = Record<string, unknown> & { id?: number; result?: Record<string, unknown>; error?: { code: number; message: string } };

/** A raw 2025-11-25 MCP session over WebSocket: `request` sends and awaits the answer with that id. */
async function session(wsUrl: string, key: string) {
  const socket = new WebSocket(wsUrl, ['mcp'], { headers: { authorization: `Bearer ${key}` } });
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  socket.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString('utf8')) as Frame);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  let nextId = 1;
  const request = async (method: string, params: Record<string, unknown> = {}): Promise<Frame> => {
    const id = nextId++;
    socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    for (;;) {
      const found = frames.find((f) => f.id === id);
      if (found) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const init = await request('initialize', { protocolVersion: '2025-11-25', capabilities: { tasks: {} }, clientInfo: { name: 'tasks-test', version: '1' } });
  socket.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  return { socket, request, init, close: () => socket.close() };
}

const LONG = { name: 'count_primes', arguments: { from: 0, to: 60_000_000, steps: 30 } };
const PRIMES_UP_TO_60M = 3_562_115;

/** Every quota counter of the organization (all periods), to compare before and after a call. */
async function quotaCounters(orgId: string): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const key of await redis.keys(`tg:{${orgId}}:quota:*`)) out[key] = await redis.hgetall(key);
  return out;
}

async function usageRows(callId: string) {
  return (await pool.query<{ outcome: string; units: number; transport: string }>('SELECT outcome, units, transport FROM usage_records WHERE call_id = $1', [callId])).rows;
}

describe('MCP tasks over workflow tools', () => {
  it('a task started on one gateway is fetched from another after the first is gone', async () => {
    const s1 = await session(first.wsUrl, a.key);
    expect(s1.init.result).toMatchObject({ protocolVersion: '2025-11-25', capabilities: { tasks: { requests: { tools: { call: {} } } } } });
    const tools = (await s1.request('tools/list')).result as { tools: Array<{ name: string; execution?: { taskSupport?: string } }> };
    expect(tools.tools.find((t) => t.name === 'count_primes')?.execution).toEqual({ taskSupport: 'optional' });

    const created = await s1.request('tools/call', { ...LONG, task: { ttl: 600_000 } });
    const task = (created.result as { task: { taskId: string; status: string } }).task;
    expect(task).toMatchObject({ taskId: expect.stringMatching(/^call_/) as unknown, status: 'working' });
    // The client goes away, and so does the gateway that started the task.
    s1.close();
    await first.close();

    const s2 = await session(second.wsUrl, a.key);
    expect((await s2.request('tasks/get', { taskId: task.taskId })).result).toMatchObject({ taskId: task.taskId, status: expect.stringMatching(/^(working|completed)$/) as unknown });
    const result = await s2.request('tasks/result', { taskId: task.taskId });
    expect(result.result).toMatchObject({
      structuredContent: { from: 0, to: 60_000_000, count: PRIMES_UP_TO_60M },
      _meta: { 'io.modelcontextprotocol/related-task': { taskId: task.taskId } },
    });
    expect((await s2.request('tasks/get', { taskId: task.taskId })).result).toMatchObject({ status: 'completed' });
    expect(((await s2.request('tasks/list')).result as { tasks: Array<{ taskId: string }> }).tasks.map((t) => t.taskId)).toContain(task.taskId);

    // Metered once, by the workflow: one usage record, a successful unit.
    await vi.waitFor(async () => expect(await usageRows(task.taskId)).toEqual([{ outcome: 'ok', units: 1, transport: 'ws' }]), { timeout: 10_000, interval: 100 });

    // Another organization's key: no such task, whatever it asks.
    const other = await session(second.wsUrl, b.key);
    for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
      expect((await other.request(method, { taskId: task.taskId })).error).toMatchObject({ code: -32602, message: expect.stringMatching(/task not found/) as unknown });
    }
    expect(((await other.request('tasks/list')).result as { tasks: unknown[] }).tasks).toEqual([]);
    other.close();
    s2.close();
  });

  it('tasks/cancel stops the work, releases its concurrency lease and refunds its unit', async () => {
    const s = await session(second.wsUrl, a.key);
    const before = await quotaCounters(a.orgId);
    const adm = redisKeys.admission(a.orgId);
    const orgCounter = async () => Number((await redis.hget(adm, admissionFields.orgConcurrency)) ?? '0');
    const runningBefore = await orgCounter();
    const created = await s.request('tools/call', { name: 'count_primes', arguments: { from: 0, to: 90_000_000_000, steps: 5_000 }, task: {} });
    const { taskId } = (created.result as { task: { taskId: string } }).task;
    // The lease is held under the call id while the work runs: its record names the
    // organization's concurrency counter, which counts it.
    const record = await redis.hget(adm, `l:${taskId}`);
    expect(record?.split('|').slice(1)).toContain(admissionFields.orgConcurrency);
    expect(await orgCounter()).toBe(runningBefore + 1);
    expect(await quotaCounters(a.orgId)).not.toEqual(before);

    expect((await s.request('tasks/cancel', { taskId })).result).toMatchObject({ taskId, status: 'cancelled' });
    await vi.waitFor(async () => expect(await usageRows(taskId)).toEqual([{ outcome: 'cancelled', units: 0, transport: 'ws' }]), { timeout: 15_000, interval: 100 });
    expect(await redis.hget(adm, `l:${taskId}`)).toBeNull();
    expect(await orgCounter()).toBe(runningBefore);
    expect(await quotaCounters(a.orgId)).toEqual(before);
    // The run closes right after settling.
    await vi.waitFor(async () => expect((await s.request('tasks/get', { taskId })).result).toMatchObject({ status: 'cancelled' }), { timeout: 10_000, interval: 100 });
    expect((await s.request('tasks/result', { taskId })).error).toMatchObject({ code: -32602, message: expect.stringMatching(/cancelled/) as unknown });
    expect((await s.request('tasks/cancel', { taskId })).error).toMatchObject({ code: -32602, message: expect.stringMatching(/already cancelled/) as unknown });
    s.close();
  });

  it('a retried call with the same idempotency key joins the same run: one workflow, one record, one unit', async () => {
    const s = await session(second.wsUrl, a.key);
    const key = `retry-${Date.now()}`;
    const call = { name: 'count_primes', arguments: { to: 2_000_000, steps: 2 }, _meta: { 'io.tollgate/idempotencyKey': key } };
    const before = await quotaCounters(a.orgId);
    const once = (await s.request('tools/call', call)).result as { structuredContent: unknown; _meta: Record<string, string> };
    const again = (await s.request('tools/call', call)).result as { structuredContent: unknown; _meta: Record<string, string> };
    const callId = once._meta['io.tollgate/callId']!;
    expect(again._meta['io.tollgate/callId']).toBe(callId);
    expect(again.structuredContent).toEqual(once.structuredContent);
    // As a task, too: the same call, so the same task.
    const asTask = (await s.request('tools/call', { ...call, task: {} })).result as { task: { taskId: string } };
    expect(asTask.task.taskId).toBe(callId);

    // One workflow ran, one usage record, and every quota counter moved by one call only.
    const runs: string[] = [];
    for await (const run of second.temporal.client.workflow.list({ query: `TollgateOrgId = "${a.orgId}" AND WorkflowId = "tool-call/${a.orgId}/${callId}"` })) runs.push(run.runId);
    expect(runs).toHaveLength(1);
    await vi.waitFor(async () => expect(await usageRows(callId)).toEqual([{ outcome: 'ok', units: 1, transport: 'ws' }]), { timeout: 10_000, interval: 100 });
    await vi.waitFor(
      async () => {
        const after = await quotaCounters(a.orgId);
        const moved = Object.entries(after).flatMap(([k, fields]) => Object.entries(fields).map(([f, v]) => Number(v) - Number(before[k]?.[f] ?? 0))).filter((d) => d !== 0);
        expect(moved.length).toBeGreaterThan(0);
        expect(moved.every((d) => d === 1)).toBe(true);
      },
      { timeout: 5_000, interval: 100 },
    );

    // The same key in another organization is another call; a malformed key is refused.
    const other = await session(second.wsUrl, b.key);
    const theirs = (await other.request('tools/call', call)).result as { _meta: Record<string, string> };
    expect(theirs._meta['io.tollgate/callId']).not.toBe(callId);
    const bad = await s.request('tools/call', { ...call, _meta: { 'io.tollgate/idempotencyKey': 'has spaces in it' } });
    expect(bad.error).toMatchObject({ code: -32602, message: expect.stringMatching(/idempotencyKey/) as unknown });
    other.close();
    s.close();
  });

  it('a stateless 2026-07-28 task request without the extension declared gets -32021, never a 5xx', async () => {
    const res = await fetch(second.mcpUrl, {
      method: 'POST',
      headers: modernHeaders(a.key, 'tasks/get'),
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { taskId: 'call_1111111111111', _meta: MODERN_META } }),
    });
    expect(res.status).toBeLessThan(500);
    const body = (await res.json()) as { error?: { code: number; message: string } };
    // A 2026-07-28 client that did not declare the tasks extension is told what it lacks.
    expect(body.error).toMatchObject({ code: -32021, message: expect.stringMatching(/capability/) as unknown });
  });

  it('2026-07-28 tasks extension: a declaring client gets a task handle, polls tasks/get on another replica and reads the result inline', async () => {
    const third = await startGateway();
    // A tenant of its own: the calls above used up this minute's expensive-tool rate of the first.
    const c = await createTenant(pool, { plan: 'pro' });
    const envelope = (withTasks: boolean) => ({
      ...MODERN_META,
      'io.modelcontextprotocol/clientCapabilities': withTasks ? { extensions: { 'io.modelcontextprotocol/tasks': {} } } : {},
    });
    const rpc = async (url: string, method: string, params: Record<string, unknown>, withTasks = true, name?: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: modernHeaders(c.key, method, name),
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: envelope(withTasks) } }),
      });
      expect(res.status).toBeLessThan(500);
      return (await res.json()) as { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
    };
    const discover = await rpc(third.mcpUrl, 'server/discover', {});
    expect(discover.result).toMatchObject({ capabilities: { extensions: { 'io.modelcontextprotocol/tasks': {} } } });

    const created = await rpc(third.mcpUrl, 'tools/call', { name: 'count_primes', arguments: { to: 20_000_000, steps: 4 } }, true, 'count_primes');
    expect(created.result).toMatchObject({ resultType: 'task', status: 'working', taskId: expect.stringMatching(/^call_/) as unknown, ttlMs: null, pollIntervalMs: 1000 });
    const taskId = created.result!.taskId as string;
    await third.close(); // the replica that created it is gone

    const done = await vi.waitFor(
      async () => {
        const got = await rpc(second.mcpUrl, 'tasks/get', { taskId }, true, taskId);
        expect(got.result).toMatchObject({ resultType: 'complete', taskId, status: 'completed' });
        return got.result!;
      },
      { timeout: 30_000, interval: 200 },
    );
    expect(done.result).toMatchObject({ structuredContent: { from: 0, to: 20_000_000, count: 1_270_607 } });
    expect((await rpc(second.mcpUrl, 'tasks/update', { taskId, inputResponses: {} }, true, taskId)).result).toEqual(expect.objectContaining({ resultType: 'complete' }));
    expect((await rpc(second.mcpUrl, 'tasks/cancel', { taskId }, true, taskId)).result).toEqual(expect.objectContaining({ resultType: 'complete' }));
    // Task methods need the extension declared on the request.
    expect((await rpc(second.mcpUrl, 'tasks/get', { taskId }, false, taskId)).error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: { 'io.modelcontextprotocol/tasks': {} } } },
    });
  });
});
