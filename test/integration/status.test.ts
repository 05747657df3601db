import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { USAGE_MAINTENANCE_WORKFLOW } from '../../core/temporal/contracts.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { StatusReport } from '../../gateway/src/routes/status-report.js';
import { ownerPool, startBillingWorker, startGateway, startWorker, type TestBillingWorker, type TestGateway, type TestWorker } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

/**
 * `/status` on the status listener tells the truth about a running stack: dependencies with
 * their latency, each task queue's pollers and backlog as Temporal sees them, this gateway's
 * open WebSocket sessions, and the version; its OpenAPI document lists every status route.
 */
let pool: Pool;
let stack: TestGateway;
let worker: TestWorker;
let billing: TestBillingWorker | undefined;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  worker = await startWorker(stack.config);
});

afterAll(async () => {
  await billing?.stop();
  await worker?.stop();
  await stack?.close();
  await pool?.end();
});

const status = async (): Promise<StatusReport> => {
  const res = await fetch(`${stack.statusUrl}/status`);
  expect(res.status).toBe(200);
  return (await res.json()) as StatusReport;
};
const queue = (report: StatusReport, name: string, kind: 'workflow' | 'activity') => report.taskQueues.find((q) => q.name === name && q.kind === kind);
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('/status', () => {
  it('reports a queue nobody polls, with its backlog, as degraded; healthy once its worker runs', async () => {
    const billingQueue = stack.config.temporal.taskQueues.billing;
    // Work waiting on the billing queue before any billing worker exists.
    await stack.temporal.client.workflow.start(USAGE_MAINTENANCE_WORKFLOW, { taskQueue: billingQueue, workflowId: `status-backlog-${Date.now()}`, args: [] });
    const degraded = await vi.waitFor(
      async () => {
        const r = await status();
        expect(queue(r, billingQueue, 'workflow')).toMatchObject({ pollers: 0, backlog: 1 });
        return r;
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(degraded.status).toBe('degraded');
    expect(degraded.version).toBe(VERSION);
    for (const dep of ['postgres', 'redis', 'temporal'] as const) expect(degraded.dependencies[dep]).toMatchObject({ ok: true, latencyMs: expect.any(Number) as unknown });
    await vi.waitFor(async () => expect(queue(await status(), stack.config.temporal.taskQueues.toolCalls, 'workflow')?.pollers).toBeGreaterThan(0), { timeout: 15_000, interval: 200 });

    billing = await startBillingWorker(stack.config, { ingest: false });
    const healthy = await vi.waitFor(
      async () => {
        const r = await status();
        expect(r.status).toBe('ok');
        // The waiting task was taken (Temporal's backlog figure is approximate and lags a little).
        expect(queue(r, billingQueue, 'workflow')?.backlog).toBe(0);
        return r;
      },
      { timeout: 20_000, interval: 200 },
    );
    expect(queue(healthy, billingQueue, 'workflow')?.pollers).toBeGreaterThan(0);
    expect(healthy.taskQueues).toHaveLength(4);
  });

  it('counts the open WebSocket sessions of this gateway', async () => {
    const t = await createTenant(pool, { plan: 'free' });
    const before = (await status()).gateway.openConnections.ws ?? 0;
    const socket = new WebSocket(stack.wsUrl, ['mcp'], { headers: { authorization: `Bearer ${t.key}` } });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await vi.waitFor(async () => expect((await status()).gateway.openConnections.ws).toBe(before + 1), { timeout: 5_000, interval: 50 });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.close();
    await closed;
    await vi.waitFor(async () => expect((await status()).gateway.openConnections.ws).toBe(before), { timeout: 5_000, interval: 50 });
  });

  it('is documented on the status listener, and not served on the public one', async () => {
    const doc = (await (await fetch(`${stack.statusUrl}/docs/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/health', '/ready', '/status', '/uptime', '/metrics']));
    expect((await fetch(stack.mcpUrl.replace(/\/mcp$/, '/status'))).status).toBe(404);
  });
});
