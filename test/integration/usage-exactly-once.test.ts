import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { redisKeys } from '../../core/redis-keys.js';
import type { Pool } from '../../platform/pg/pool.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { createPlan } from '../../platform/tenancy/plans-repo.js';
import { insertUsageRecords } from '../../platform/usage/usage-store.js';
import { USAGE_GROUP } from '../../platform/usage/usage-stream.js';
import { createMetrics } from '../../gateway/src/observability/metrics.js';
import { UsageRecorder } from '../../gateway/src/usage/usage-recorder.js';
import { pino } from 'pino';
import { modernHeaders, MODERN_META, wsClient } from '../support/mcp-clients.js';
import { uniformLimits } from '../support/plan-limits.js';
import { spawnBillingWorker, spawnGateway, type ChildService, type GatewayProcess } from '../support/processes.js';
import { ownRedisServer } from '../support/redis-server.js';
import { ownerPool, startBillingWorker, startGateway, type TestBillingWorker, type TestGateway } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';
import { usageRecord } from '../support/usage.js';

/**
 * Usage is counted once and only once: every admitted call that ends yields one record in
 * Postgres, keyed by its call id, through a Redis outage, a killed ingest worker, reads that
 * stalled, appends that were repeated and gateway restarts.
 */
let pool: Pool;
let planId: string;

beforeAll(async () => {
  pool = ownerPool();
  // Limits out of reach: these tests count records, not refusals.
  planId = `usage${Date.now().toString(36)}`;
  const client = await pool.connect();
  try {
    await createPlan(client, { id: planId, name: 'Usage test', rank: 70, limits: uniformLimits(1_000_000), allowedTools: ['text_stats', 'noop'], cacheTtlSeconds: 0, quotaPolicy: 'block' });
  } finally {
    client.release();
  }
});

afterAll(async () => {
  await pool?.end();
});

interface Answer {
  readonly status: number;
  readonly callId?: string;
  readonly isError?: boolean;
  readonly code?: string;
}

let rpcId = 0;
/** One tools/call over HTTP (2026-07-28); the answer's call id comes from the result's `_meta`. */
async function call(mcpUrl: string, key: string, tool = 'text_stats', args: Record<string, unknown> = { text: 'count me' }): Promise<Answer> {
  const res = await fetch(mcpUrl, {
    method: 'POST',
    headers: modernHeaders(key, 'tools/call', tool),
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'tools/call', params: { name: tool, arguments: args, _meta: MODERN_META } }),
  });
  const body = (await res.json()) as { result?: { isError?: boolean; _meta?: Record<string, unknown> }; error?: { data?: { code?: string } } };
  return {
    status: res.status,
    ...(body.result ? { callId: body.result._meta?.['io.tollgate/callId'] as string, isError: body.result.isError === true } : {}),
    ...(body.error?.data?.code ? { code: body.error.data.code } : {}),
  };
}

interface StoredRecord {
  call_id: string;
  request_id: string;
  user_id: string;
  key_id: string;
  tool: string;
  tier: string;
  outcome: string;
  units: number;
  overage: boolean;
  latency_ms: number;
  transport: string;
}

async function recordsOf(orgId: string): Promise<StoredRecord[]> {
  return (
    await pool.query<StoredRecord>(
      'SELECT call_id, request_id, user_id, key_id, tool, tier, outcome, units, overage, latency_ms, transport FROM usage_records WHERE org_id = $1 ORDER BY started_at',
      [orgId],
    )
  ).rows;
}

/** Polls until the organization has `n` records (or fails with what it has). */
async function awaitRecords(orgId: string, n: number, timeoutMs = 20_000): Promise<StoredRecord[]> {
  let last: StoredRecord[] = [];
  await vi.waitFor(
    async () => {
      last = await recordsOf(orgId);
      expect(last.length).toBe(n);
    },
    { timeout: timeoutMs, interval: 100 },
  );
  return last;
}

/** `total` calls from `concurrency` callers; a caller whose gateway is unreachable (or draining) tries the next one. */
async function traffic(targets: () => string[], key: string, total: number, concurrency: number, tool?: string, args?: Record<string, unknown>) {
  const answers: Answer[] = [];
  let networkFailures = 0;
  let issued = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (issued < total) {
        issued++;
        const urls = targets();
        for (let attempt = 0; attempt < urls.length; attempt++) {
          try {
            const answer = await call(urls[(worker + attempt) % urls.length]!, key, tool, args);
            // A draining gateway answers 503 before doing anything: try the next one.
            if (answer.status === 503 && attempt + 1 < urls.length) continue;
            answers.push(answer);
            break;
          } catch {
            networkFailures++;
          }
        }
      }
    }),
  );
  return { answers, networkFailures };
}

describe('usage records of an in-process stack', () => {
  let stack: TestGateway;
  let billing: TestBillingWorker;

  beforeAll(async () => {
    stack = await startGateway();
    billing = await startBillingWorker(stack.config);
  });

  afterAll(async () => {
    await billing?.stop();
    await stack?.close();
  });

  it('every admitted call that ends yields exactly one record: who, what, how it ended, how long', async () => {
    const t = await createTenant(pool, { plan: 'pro' });
    const ok = [await call(stack.mcpUrl, t.key), await call(stack.mcpUrl, t.key)];
    const badArgs = await call(stack.mcpUrl, t.key, 'text_stats', { text: 42 });
    const notInPlan = await call(stack.mcpUrl, t.key, 'noop', {});
    const ws = await wsClient(stack.wsUrl, t.key);
    const overWs = await ws.callTool({ name: 'text_stats', arguments: { text: 'over a socket' } });
    await ws.close();

    expect(ok.map((a) => a.status)).toEqual([200, 200]);
    expect(badArgs).toMatchObject({ status: 200, isError: true });
    expect(notInPlan).toMatchObject({ status: 403, code: 'TOOL_NOT_IN_PLAN' });
    const wsCallId = (overWs._meta as Record<string, unknown>)['io.tollgate/callId'] as string;

    // The refused call (not in the plan) was never admitted: no record.
    const records = await awaitRecords(t.orgId, 4);
    const byId = new Map(records.map((r) => [r.call_id, r]));
    for (const a of ok) expect(byId.get(a.callId!)).toMatchObject({ outcome: 'ok', units: 1, transport: 'http' });
    expect(byId.get(badArgs.callId!)).toMatchObject({ outcome: 'tool_error', units: 0 });
    expect(byId.get(wsCallId)).toMatchObject({ outcome: 'ok', units: 1, transport: 'ws' });
    for (const r of records) {
      expect(r).toMatchObject({ user_id: t.userId, key_id: t.keyId, tool: 'text_stats', tier: 'pro', overage: false });
      expect(r.latency_ms).toBeGreaterThanOrEqual(0);
      expect(r.request_id).toMatch(/^req_/);
    }
  });

  it('a record appended twice (a retried append) is stored once', async () => {
    const t = await createTenant(pool, { plan: 'pro' });
    const a = await call(stack.mcpUrl, t.key);
    await awaitRecords(t.orgId, 1);
    const redis = new Redis(stack.config.redis.url);
    try {
      const [record] = await recordsOf(t.orgId);
      const json = JSON.stringify(usageRecord(t, Date.now(), { callId: a.callId!, requestId: record!.request_id, latencyMs: 1 }));
      const copies: Array<[string, string]> = [];
      for (let shard = 0; shard < stack.config.usage.shards; shard++) {
        const key = redisKeys.usageStream(shard);
        copies.push([key, (await redis.xadd(key, '*', 'r', json))!]);
      }
      // Wait until the ingestor has stored and deleted every copy, then check nothing was added.
      await vi.waitFor(async () => expect(await stillInStream(redis, copies)).toBe(0), { timeout: 10_000, interval: 100 });
      expect(await recordsOf(t.orgId)).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
  });

  it('calls that end together share one stream entry (one XADD), and each is stored once', async () => {
    const t = await createTenant(pool, { plan: 'pro' });
    const redis = new Redis(stack.config.redis.url);
    const appended: unknown[][] = [];
    // The real connection, with its XADDs noted on the way.
    const counting = new Proxy(redis, {
      get: (target, prop, receiver) =>
        prop === 'xadd'
          ? (...args: unknown[]) => {
              appended.push(args);
              return (target.xadd as (...a: unknown[]) => Promise<string | null>)(...args);
            }
          : (Reflect.get(target, prop, receiver) as unknown),
    });
    const recorder = new UsageRecorder({ redis: counting, pool, shards: stack.config.usage.shards, log: pino({ level: 'silent' }), metrics: createMetrics() });
    try {
      const records = Array.from({ length: 5 }, () => usageRecord(t));
      await Promise.all(records.map((r) => recorder.record(r)));
      expect(appended).toHaveLength(1);
      expect(appended[0]!.filter((a) => a === 'r')).toHaveLength(5);
      const stored = await awaitRecords(t.orgId, 5);
      expect(stored.map((r) => r.call_id).sort()).toEqual(records.map((r) => r.callId).sort());
      // A later turn is a new entry.
      await recorder.record(usageRecord(t));
      expect(appended).toHaveLength(2);
      await awaitRecords(t.orgId, 6);
    } finally {
      await recorder.stop();
      redis.disconnect();
    }
  });

  it('an entry holding a valid and an invalid record: the valid one is stored once, the entry is not retried', async () => {
    const t = await createTenant(pool, { plan: 'pro' });
    const redis = new Redis(stack.config.redis.url);
    try {
      const good = usageRecord(t);
      const key = redisKeys.usageStream(0);
      const id = (await redis.xadd(key, '*', 'r', 'not json', 'r', JSON.stringify(good), 'r', '{"callId":42}'))!;
      await vi.waitFor(async () => expect(await stillInStream(redis, [[key, id]])).toBe(0), { timeout: 10_000, interval: 100 });
      expect((await recordsOf(t.orgId)).map((r) => r.call_id)).toEqual([good.callId]);
    } finally {
      redis.disconnect();
    }
  });
});

describe('usage while Redis is down', () => {
  it('calls admitted without Redis (Pro fails open) are recorded straight into Postgres, once each', async () => {
    const redis = await ownRedisServer();
    const stack = await startGateway({ REDIS_URL: redis.url, TOLLGATE_BREAKER_COOLDOWN: '300 ms' });
    const billing = await startBillingWorker(stack.config);
    try {
      const t = await createTenant(pool, { plan: 'pro' });
      const before = [await call(stack.mcpUrl, t.key), await call(stack.mcpUrl, t.key)];
      await redis.kill();
      const during = [await call(stack.mcpUrl, t.key), await call(stack.mcpUrl, t.key), await call(stack.mcpUrl, t.key)];
      await redis.start();
      const after = [await call(stack.mcpUrl, t.key)];
      const answers = [...before, ...during, ...after];
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);

      // The records appended before the outage died with that Redis (it keeps nothing on
      // disk, as this one is configured); those written while it was down, and after, remain.
      const expected = [...during, ...after].map((a) => a.callId!);
      await vi.waitFor(
        async () => {
          const stored = new Set((await recordsOf(t.orgId)).map((r) => r.call_id));
          for (const id of expected) expect(stored.has(id), id).toBe(true);
        },
        { timeout: 20_000, interval: 100 },
      );
      const stored = await recordsOf(t.orgId);
      expect(new Set(stored.map((r) => r.call_id)).size).toBe(stored.length);
    } finally {
      await billing.stop();
      await stack.close();
      await redis.kill();
    }
  });
});

describe('exactly once across processes', () => {
  const started: Array<ChildService | GatewayProcess> = [];
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });

  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
    redis.disconnect();
  });

  const gateway = async () => {
    const g = await spawnGateway({ TOLLGATE_PREAUTH_IP_PER_MINUTE: '1000000' });
    started.push(g);
    return g;
  };
  const billingWorker = async () => {
    const w = await spawnBillingWorker({ TOLLGATE_USAGE_CLAIM_IDLE: '1 s' });
    started.push(w);
    return w;
  };

  it('one record per answered call through a killed ingest worker, a stalled reader, repeated appends and a gateway restart', async () => {
    const t = await createTenant(pool, { plan: planId });
    const shards = 4;
    let a = await gateway();
    const b = await gateway();
    const w1 = await billingWorker();
    const urls = () => [a.mcpUrl, b.mcpUrl];

    const phase1 = await traffic(urls, t.key, 60, 8);
    await w1.kill(); // SIGKILL: whatever it had read and not acknowledged is left pending

    // With no ingestor running, records pile up in the stream.
    const phase2 = await traffic(urls, t.key, 60, 8);
    // A reader that takes entries and dies before acknowledging them; some of its batch even
    // reached Postgres first (the crash fell between insert and acknowledge).
    const stalled: Array<{ shard: number; id: string; json: string }> = [];
    for (let shard = 0; shard < shards; shard++) {
      await redis.xgroup('CREATE', redisKeys.usageStream(shard), USAGE_GROUP, '0', 'MKSTREAM').catch(() => {});
      const reply = (await redis.xreadgroup('GROUP', USAGE_GROUP, 'reader-that-died', 'COUNT', 5, 'STREAMS', redisKeys.usageStream(shard), '>')) as Array<[string, Array<[string, string[]]>]> | null;
      for (const [id, fields] of reply?.[0]?.[1] ?? []) stalled.push({ shard, id, json: fields[1]! });
    }
    expect(stalled.length).toBeGreaterThan(0);
    await withSystem(pool, (db) => insertUsageRecords(db, stalled.slice(0, 3).map((s) => JSON.parse(s.json) as never)));
    // Appends repeated (a gateway retrying an append whose reply it lost).
    const copies: Array<[string, string]> = [];
    for (const s of stalled.slice(0, 4)) copies.push([redisKeys.usageStream(s.shard), (await redis.xadd(redisKeys.usageStream(s.shard), '*', 'r', s.json))!]);

    // A gateway restarts gracefully under traffic: its in-flight calls finish, callers move on.
    const phase3 = traffic(urls, t.key, 80, 8);
    await new Promise((r) => setTimeout(r, 300));
    await a.stop();
    a = await gateway();
    const w2 = await billingWorker();
    const answered = [...phase1.answers, ...phase2.answers, ...(await phase3).answers];

    expect(answered.every((x) => x.status === 200 && !x.isError)).toBe(true);
    const ids = answered.map((x) => x.callId!);
    expect(new Set(ids).size).toBe(ids.length);
    const records = await awaitRecords(t.orgId, ids.length, 30_000);
    expect(new Set(records.map((r) => r.call_id))).toEqual(new Set(ids));
    expect(records.every((r) => r.outcome === 'ok' && r.units === 1)).toBe(true);
    // And it stays that way: the stalled entries were claimed and the copies consumed, all
    // acknowledged, and nothing was added for them.
    await vi.waitFor(
      async () => {
        expect(await stillInStream(redis, [...stalled.map((x): [string, string] => [redisKeys.usageStream(x.shard), x.id]), ...copies])).toBe(0);
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(await recordsOf(t.orgId)).toHaveLength(ids.length);
    expect(w2.output()).toContain('usage entries claimed from a stalled reader');
  });

  it('a gateway killed mid-traffic: every answered call is counted, nothing twice, and only calls in flight at the kill may lack an answer', async () => {
    const t = await createTenant(pool, { plan: planId });
    const doomed = await gateway();
    const other = await gateway();
    await billingWorker();
    let killed = false;
    const run = traffic(() => (killed ? [other.mcpUrl] : [doomed.mcpUrl, other.mcpUrl]), t.key, 120, 8, 'noop', { holdMs: 20 });
    await new Promise((r) => setTimeout(r, 400));
    await doomed.kill();
    killed = true;
    const { answers, networkFailures } = await run;

    const answeredIds = answers.filter((x) => x.status === 200).map((x) => x.callId!);
    await vi.waitFor(
      async () => {
        const stored = new Set((await recordsOf(t.orgId)).map((r) => r.call_id));
        for (const id of answeredIds) expect(stored.has(id), id).toBe(true);
      },
      { timeout: 20_000, interval: 100 },
    );
    const records = await recordsOf(t.orgId);
    expect(new Set(records.map((r) => r.call_id)).size).toBe(records.length);
    // A call the gateway finished (and recorded) just before dying may have lost its answer.
    expect(records.length - answeredIds.length).toBeGreaterThanOrEqual(0);
    expect(records.length - answeredIds.length).toBeLessThanOrEqual(networkFailures);
  });
});

/** How many of these stream entries (key, id) are still in the stream (not yet stored and deleted). */
async function stillInStream(redis: Redis, entries: ReadonlyArray<readonly [string, string]>): Promise<number> {
  let n = 0;
  for (const [key, id] of entries) n += (await redis.xrange(key, id, id)).length;
  return n;
}
