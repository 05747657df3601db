import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { insertUsageRecords } from '../../platform/usage/usage-store.js';
import { httpClient } from '../support/mcp-clients.js';
import { ownerPool, startGateway, startWorker, type TestGateway, type TestWorker } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';
import { usageRecord } from '../support/usage.js';

/**
 * `usage_report`, the shipped expensive workflow tool: it pages through the caller's own
 * usage records (row-level security hides every other organization's, whatever it asks),
 * reports progress per page, and returns totals that equal the records exactly.
 */
let pool: Pool;
let stack: TestGateway;
let worker: TestWorker;
let a: TestTenant;
let b: TestTenant;

const DAY1 = Date.parse('2026-03-02T10:00:00Z');
const DAY2 = Date.parse('2026-03-03T10:00:00Z');

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  worker = await startWorker(stack.config);
  [a, b] = await Promise.all([createTenant(pool, { plan: 'pro' }), createTenant(pool, { plan: 'pro' })]);
  const who = (t: TestTenant) => ({ orgId: t.orgId, userId: t.userId, keyId: t.keyId });
  await withSystem(pool, (db) =>
    insertUsageRecords(db, [
      // A: 150 successful text_stats calls on day 1 (20 of them overage), 80 count_primes on day 2, 10 of them failed.
      ...Array.from({ length: 150 }, (_, i) => usageRecord(who(a), DAY1 + i, { overage: i < 20, latencyMs: 10 })),
      ...Array.from({ length: 80 }, (_, i) => usageRecord(who(a), DAY2 + i, { tool: 'count_primes', latencyMs: 30, ...(i < 10 ? { outcome: 'failed' as const, units: 0 } : {}) })),
      // B, the same days: never in A's report.
      ...Array.from({ length: 60 }, (_, i) => usageRecord(who(b), DAY1 + i)),
      // A, outside the range.
      usageRecord(who(a), Date.parse('2026-03-05T10:00:00Z')),
    ]),
  );
});

afterAll(async () => {
  await worker?.stop();
  await stack?.close();
  await pool?.end();
});

describe('usage_report (workflow tool)', () => {
  it("reports the caller's own usage page by page, with progress, and exact totals", async () => {
    const client = await httpClient(stack.mcpUrl, a.key, 'modern');
    const progress: Array<{ progress: number; total?: number }> = [];
    const result = await client.callTool(
      { name: 'usage_report', arguments: { from: '2026-03-01', to: '2026-03-04', pageSize: 100 } },
      { onprogress: (p) => progress.push({ progress: p.progress, ...(p.total !== undefined ? { total: p.total } : {}) }), timeout: 60_000 },
    );
    await client.close();
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      orgId: a.orgId,
      total: { calls: 230, units: 220, overageUnits: 20, errors: 10 },
      byTool: [
        { tool: 'text_stats', calls: 150, units: 150, overageUnits: 20, errors: 0, avgLatencyMs: 10 },
        { tool: 'count_primes', calls: 80, units: 70, errors: 10, avgLatencyMs: 30 },
      ],
      byUser: [{ userId: a.userId, calls: 230 }],
      byDay: [
        { day: '2026-03-02', calls: 150 },
        { day: '2026-03-03', calls: 80 },
      ],
      pages: 3,
    });
    // One notification per page, counting up to the page count.
    expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
    expect(progress.at(-1)).toEqual({ progress: 3, total: 3 });
  });

  it('is listed for Pro and refuses ranges it would not finish', async () => {
    const client = await httpClient(stack.mcpUrl, a.key, 'modern');
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('usage_report');
    const tooLong = await client.callTool({ name: 'usage_report', arguments: { from: '2026-01-01', to: '2026-12-31' } });
    expect(tooLong.isError).toBe(true);
    expect(JSON.stringify(tooLong.content)).toMatch(/at most 93 days/);
    await client.close();
  });
});
