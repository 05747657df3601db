import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { SA } from '../../core/temporal/search-attributes.js';
import type { Pool } from '../../platform/pg/pool.js';
import { httpClient, wsClient } from '../support/mcp-clients.js';
import { ownerPool, startGateway, startWorker, type TestGateway, type TestWorker } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

let stack: TestGateway;
let worker: TestWorker;
let pool: Pool;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  worker = await startWorker(stack.config);
});

afterAll(async () => {
  await worker?.stop();
  await stack?.close();
  await pool?.end();
});

/** The tool-call runs of one organization, as Temporal Web's filter on TollgateOrgId shows them. */
async function runsOf(orgId: string): Promise<WorkflowExecutionInfo[]> {
  const runs: WorkflowExecutionInfo[] = [];
  for await (const run of stack.temporal.client.workflow.list({ query: `TollgateOrgId = '${orgId}'` })) runs.push(run);
  return runs;
}

/** Resolves once `count` progress notifications arrived. */
function progressCounter(count: number) {
  let seen = 0;
  let reached!: () => void;
  const done = new Promise<void>((resolve) => (reached = resolve));
  return {
    done,
    onprogress: () => {
      if (++seen === count) reached();
    },
  };
}

const LONG_CALL = { name: 'count_primes', arguments: { from: 0, to: 20_000_000_000, steps: 4_000 } };

describe('the long tool as a Temporal workflow', () => {
  it('is findable by organization, plan and tool, with a deterministic id', async () => {
    const tenant = await createTenant(pool, { plan: 'ultra' });
    const client = await httpClient(stack.mcpUrl, tenant.key, 'modern');
    await client.callTool({ name: 'count_primes', arguments: { to: 100_000, steps: 2 } });
    await client.close();
    await vi.waitFor(
      async () => {
        const [run, ...more] = await runsOf(tenant.orgId);
        expect(more).toHaveLength(0);
        expect(run!.workflowId).toMatch(new RegExp(`^tool-call/${tenant.orgId}/call_`));
        expect(run!.status.name).toBe('COMPLETED');
        expect(run!.typedSearchAttributes.get(SA.plan)).toBe('ultra');
        expect(run!.typedSearchAttributes.get(SA.tool)).toBe('count_primes');
        expect(run!.typedSearchAttributes.get(SA.userId)).toBe(tenant.userId);
        expect(run!.typedSearchAttributes.get(SA.callStatus)).toBe('completed');
      },
      { timeout: 15_000, interval: 200 },
    );
  });

  it('cancelling the call over HTTP (closing the stream) ends its workflow as cancelled', async () => {
    const tenant = await createTenant(pool, { plan: 'pro' });
    const client = await httpClient(stack.mcpUrl, tenant.key, 'modern');
    const controller = new AbortController();
    const progress = progressCounter(2);
    const call = client.callTool(LONG_CALL, { onprogress: progress.onprogress, signal: controller.signal });
    await progress.done;
    controller.abort('the user clicked stop');
    await expect(call).rejects.toThrow();
    await client.close();
    await vi.waitFor(
      async () => {
        const [run] = await runsOf(tenant.orgId);
        expect(run?.status.name).toBe('CANCELLED');
        expect(run?.typedSearchAttributes.get(SA.callStatus)).toBe('cancelled');
      },
      { timeout: 20_000, interval: 200 },
    );
  });

  it('notifications/cancelled from a 2025-era HTTP session ends its workflow as cancelled', async () => {
    const tenant = await createTenant(pool, { plan: 'pro' });
    const client = await httpClient(stack.mcpUrl, tenant.key, 'legacy');
    const controller = new AbortController();
    const progress = progressCounter(2);
    const call = client.callTool(LONG_CALL, { onprogress: progress.onprogress, signal: controller.signal });
    await progress.done;
    controller.abort('stop');
    await expect(call).rejects.toThrow();
    await vi.waitFor(async () => expect((await runsOf(tenant.orgId))[0]?.status.name).toBe('CANCELLED'), { timeout: 20_000, interval: 200 });
    await client.close();
  });

  it('notifications/cancelled over WebSocket ends its workflow as cancelled, and the session goes on', async () => {
    const tenant = await createTenant(pool, { plan: 'pro' });
    const client = await wsClient(stack.wsUrl, tenant.key);
    const controller = new AbortController();
    const progress = progressCounter(2);
    const call = client.callTool(LONG_CALL, undefined, { onprogress: progress.onprogress, signal: controller.signal });
    await progress.done;
    controller.abort('stop');
    await expect(call).rejects.toThrow();
    await vi.waitFor(async () => expect((await runsOf(tenant.orgId))[0]?.status.name).toBe('CANCELLED'), { timeout: 20_000, interval: 200 });
    const after = await client.callTool({ name: 'text_stats', arguments: { text: 'still here' } });
    expect(after.structuredContent).toMatchObject({ words: 2 });
    await client.close();
  });
});
