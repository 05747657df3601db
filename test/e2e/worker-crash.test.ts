import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { httpClient } from '../support/mcp-clients.js';
import { spawnWorker, type ChildService } from '../support/processes.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';

/**
 * Worker processes under a running workflow tool call: one killed with SIGKILL mid-call
 * loses nothing (another worker resumes from the last checkpoint after the heartbeat
 * timeout, and the caller, still waiting on the same request, gets the right result); one
 * stopped with SIGTERM finishes the call in hand before it exits.
 */
let pool: Pool;
let stack: TestGateway;
let pro: TestTenant;
const workers: ChildService[] = [];

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  pro = await createTenant(pool, { plan: 'pro' });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.close();
  await pool?.end();
});

/** π(10^8): a result any restart from scratch or skipped segment would get wrong. */
const PRIMES_UP_TO_100M = 5_761_455;
const CALL = { name: 'count_primes', arguments: { from: 0, to: 100_000_000, steps: 50 } };

async function startCall(tenant: TestTenant = pro) {
  const client = await httpClient(stack.mcpUrl, tenant.key, 'modern');
  const progress: number[] = [];
  let firstProgress!: () => void;
  const running = new Promise<void>((resolve) => (firstProgress = resolve));
  const result = client.callTool(CALL, {
    onprogress: (p) => {
      progress.push(p.progress);
      firstProgress();
    },
    timeout: 120_000,
    resetTimeoutOnProgress: true,
  });
  return { client, progress, running, result };
}

describe('worker processes under a running call', () => {
  it('a worker killed with SIGKILL mid-call: another resumes it from its checkpoint and the caller gets the result', async () => {
    const first = await spawnWorker();
    workers.push(first);
    const call = await startCall();
    await call.running;
    await first.kill();
    const reachedBeforeKill = Math.max(...call.progress);
    expect(reachedBeforeKill).toBeLessThan(50);

    workers.push(await spawnWorker());
    const result = await call.result;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ from: 0, to: 100_000_000, count: PRIMES_UP_TO_100M, steps: 50 });
    // Resumed, not restarted: progress never went back.
    for (let i = 1; i < call.progress.length; i++) expect(call.progress[i]!).toBeGreaterThan(call.progress[i - 1]!);
    expect(call.progress.at(-1)).toBe(50);
    await call.client.close();
  }, 90_000);

  it('a worker stopped with SIGTERM finishes the activity it is running (no retry elsewhere), then exits cleanly', async () => {
    // Only this worker may take the call.
    for (const w of workers.splice(0)) await w.stop();
    const draining = await spawnWorker({ TOLLGATE_SHUTDOWN_GRACE: '60 s' });
    workers.push(draining);
    const own = await createTenant(pool, { plan: 'pro' });
    const call = await startCall(own);
    await call.running;
    const exited = draining.stop(); // SIGTERM: no new tasks, the running activity goes on
    // The workflow's last step (completing it) needs a worker that still polls.
    workers.push(await spawnWorker());
    const result = await call.result;
    expect(result.structuredContent).toMatchObject({ count: PRIMES_UP_TO_100M });
    expect(await exited).toBe(0);
    expect(draining.output()).toContain('"msg":"worker draining"');
    // The draining worker finished the activity itself: one attempt, never retried.
    const runs: string[] = [];
    for await (const run of stack.temporal.client.workflow.list({ query: `TollgateOrgId = "${own.orgId}"` })) runs.push(run.workflowId);
    expect(runs).toHaveLength(1);
    const history = await stack.temporal.client.workflow.getHandle(runs[0]!).fetchHistory();
    // (Temporal records only the last attempt's start, with its attempt number.)
    const events = history.events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runWorkflowTool');
    const started = events.find((e) => e.activityTaskStartedEventAttributes && String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(scheduled?.eventId));
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(1);
    await call.client.close();
  }, 90_000);
});
