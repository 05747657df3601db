/**
 * Admission on a real three-master Redis Cluster (started by this file, 127.0.0.1 only).
 *
 * Proves that:
 * - every key one admission script call touches (all levels of a tools/call, core and
 *   expensive; release and renew) hashes to one slot, so the calls run on whichever node owns
 *   the organization's slot without CROSSSLOT, for organizations spread over different nodes;
 *   the cluster does refuse a call mixing slots, so the absence of the error is meaningful;
 * - decisions stay exact on the cluster: a per-key rate of 20 admits exactly 20 of 60
 *   concurrent calls, per organization, on every node; concurrency leases are renewed,
 *   released, and quota units refunded (rates, concurrency counters and lease records are
 *   fields of the organization's admission hash, quota counters fields of its quota hash
 *   for the period; both live on the organization's node);
 * - the tier's global pool, which lives in its own `{pool:<tier>}` slot, is handled by a
 *   second call (GlobalPool leases tokens in batches): two gateways' pools together grant
 *   exactly the pool's size, never more;
 * - end to end, a gateway with REDIS_CLUSTER_NODES admits exactly a plan's per-key limit of
 *   concurrent tools/call requests over HTTP and refuses the rest with 429 and
 *   `data.reason: "rate"`, its counters are in the cluster, and a key revoked through the
 *   account API stops working through the tenancy event carried by the cluster's pub/sub
 *   (the key cache TTL is an hour, so nothing else could have dropped it).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calendarPeriods, toolCallLevels, type AdmissionLevel, type CallDescription } from '../../core/admission/levels.js';
import { randomBase58 } from '../../core/ids.js';
import type { Plan, PlanLimits } from '../../core/plans.js';
import { admissionFields, redisKeys } from '../../core/redis-keys.js';
import { GlobalPool } from '../../gateway/src/admission/global-pool.js';
import type { Pool } from '../../platform/pg/pool.js';
import { createRedis } from '../../platform/redis/client.js';
import { acquire, registerScripts, release, renew } from '../../platform/redis/commands.js';
import { createPlan } from '../../platform/tenancy/plans-repo.js';
import { modernHeaders, MODERN_META } from '../support/mcp-clients.js';
import { uniformLimits } from '../support/plan-limits.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

let cluster: RedisCluster | undefined;
/** The admission connection, as the gateway builds it (ioredis Cluster behind the Redis type). */
let redis: ReturnType<typeof createRedis> | undefined;
/** One plain connection per master, to look at where keys really are. */
const direct = new Map<string, Redis>();

beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = registerScripts(createRedis({ url: '', clusterNodes: cluster.nodes }, 'admission'));
  // The admission connection has no offline queue: wait until it knows the slot map.
  const r = redis;
  await vi.waitFor(() => expect(r.status).toBe('ready'), { timeout: 10_000, interval: 20 });
  for (const n of cluster.nodes) {
    const [host, port] = n.split(':');
    direct.set(n, new Redis({ host: host!, port: Number(port), lazyConnect: true }));
  }
  await Promise.all([...direct.values()].map((c) => c.connect()));
});

afterAll(async () => {
  await Promise.allSettled([...direct.values()].map((c) => c.quit()));
  await redis?.quit().catch(() => {});
  await cluster?.stop();
});

const GENEROUS = uniformLimits(10_000);

const planWith = (id: string, limits: Partial<PlanLimits>): Plan => ({
  id,
  name: `Cluster test ${id}`,
  rank: 3,
  limits: { ...GENEROUS, ...limits },
  allowedTools: ['text_stats'],
  cacheTtlSeconds: 0,
  quotaPolicy: 'block',
});

const callOf = (orgId: string, plan: Plan, group: CallDescription['group'] = 'core'): CallDescription => ({
  orgId,
  userId: `usr_${randomBase58(20)}`,
  keyId: `key_${randomBase58(20)}`,
  ip: '127.0.0.1',
  plan,
  group,
});

const levelsOf = (call: CallDescription): AdmissionLevel[] => toolCallLevels(call, calendarPeriods(Date.now()));

const keySlot = (key: string): Promise<number> => redis!.cluster('KEYSLOT', key);

/** A bucket of the admission hash, packed '<dd' (tokens, last update ms); null when absent. */
const bucketOf = (state: Buffer | null): { tokens: number; at: number } | null => {
  if (state === null) return null;
  expect(state.length).toBe(16);
  return { tokens: state.readDoubleLE(0), at: state.readDoubleLE(8) };
};

/** `host:port` of the master serving `slot`, from CLUSTER SLOTS. */
async function ownerOf(slot: number): Promise<string> {
  const ranges = await [...direct.values()][0]!.cluster('SLOTS');
  const master = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
  if (!master) throw new Error(`slot ${slot} is not served`);
  return `${master[0]}:${master[1]}`;
}

/** Organization ids whose hash tags land on as many different masters as there are (one each). */
async function orgsOnEveryNode(): Promise<Array<{ orgId: string; node: string }>> {
  const found = new Map<string, string>();
  for (let i = 0; i < 1_000 && found.size < cluster!.nodes.length; i++) {
    const orgId = `org_${randomBase58(20)}`;
    const node = await ownerOf(await keySlot(redisKeys.admission(orgId)));
    if (!found.has(node)) found.set(node, orgId);
  }
  return [...found].map(([node, orgId]) => ({ orgId, node }));
}

describe('admission scripts on a three-node Redis Cluster', () => {
  it('keeps every key of one call in one slot, and the cluster refuses a call that mixes slots', async () => {
    const [a, b] = await orgsOnEveryNode();
    for (const group of ['core', 'expensive'] as const) {
      const levels = levelsOf(callOf(a!.orgId, planWith('slots', {}), group));
      const slots = new Set(await Promise.all(levels.map((l) => keySlot(l.key))));
      expect(slots.size).toBe(1);
    }
    // The pool is elsewhere: it cannot join the organization's call.
    expect(await keySlot(redisKeys.poolSecond('slots', 1))).not.toBe(await keySlot(redisKeys.admission(a!.orgId)));
    // A layout acquire accepts (a's admission hash, then quotas), but b's quota hash: two slots.
    const mixed = [levelsOf(callOf(a!.orgId, planWith('slots', {})))[0]!, ...levelsOf(callOf(b!.orgId, planWith('slots', {}))).filter((l) => l.kind === 'quota')];
    expect(await keySlot(mixed[0]!.key)).not.toBe(await keySlot(mixed[1]!.key));
    await expect(acquire(redis!, mixed, randomBase58(16), 60_000)).rejects.toThrow(/CROSSSLOT/);
  });

  it('admits exactly 20 of 60 concurrent calls per key, for organizations on different nodes', async () => {
    const orgs = await orgsOnEveryNode();
    expect(new Set(orgs.map((o) => o.node)).size).toBeGreaterThanOrEqual(2);
    expect(orgs.length).toBe(3);
    const plan = planWith('rate20', { perKey: { perMinute: 20 } });
    const perOrg = await Promise.all(
      orgs.map(async ({ orgId, node }) => {
        const call = callOf(orgId, plan);
        const levels = levelsOf(call);
        const results = await Promise.all(Array.from({ length: 60 }, () => acquire(redis!, levels, randomBase58(16), 60_000)));
        // The bucket (a field of the organization's admission hash) is on the node that owns its slot.
        const bucket = bucketOf(await direct.get(node)!.hgetBuffer(redisKeys.admission(orgId), admissionFields.keyRate(call.keyId, plan.id)));
        return { results, bucket };
      }),
    );
    for (const { results, bucket } of perOrg) {
      expect(results.filter((r) => r.admitted)).toHaveLength(20);
      const refused = results.filter((r) => !r.admitted);
      expect(refused).toHaveLength(40);
      for (const r of refused) expect(r).toMatchObject({ refusingLevel: 0, limit: 20, remaining: 0 });
      expect(bucket).not.toBeNull();
      expect(bucket!.tokens).toBeLessThan(1);
      // Updated by the server clock (no `now` given), a moment ago.
      expect(Math.abs(bucket!.at - Date.now())).toBeLessThan(60_000);
    }
  });

  it('renews and releases concurrency leases and refunds quota units, on each node', async () => {
    const orgs = await orgsOnEveryNode();
    const plan = planWith('lease2', { perUser: { ...GENEROUS.perUser, concurrent: 2 } });
    for (const { orgId, node } of orgs) {
      const call = callOf(orgId, plan);
      const levels = levelsOf(call);
      // As the gateway keeps it: one lease record per call, in the admission hash.
      const adm = redisKeys.admission(orgId);
      const leaseKeys = [adm];
      expect(levels[0]!.key).toBe(adm);
      expect(levels.filter((l) => l.kind === 'lease').every((l) => l.key === adm)).toBe(true);
      const userCounter = () => direct.get(node)!.hget(adm, admissionFields.userConcurrency(call.userId));
      const refunds = levels.filter((l) => l.kind === 'quota').map((l) => ({ key: l.key, field: l.field }));
      const periods = calendarPeriods(Date.now());
      const quotas = redisKeys.quotas(orgId, periods.monthId);
      const dayField = `u:${call.userId}:${periods.dayId}`;
      expect(refunds).toContainEqual({ key: quotas, field: dayField });
      // The quota hash is in the organization's slot, on its node.
      expect(await keySlot(quotas)).toBe(await keySlot(adm));
      expect(await ownerOf(await keySlot(adm))).toBe(node);
      expect(await ownerOf(await keySlot(quotas))).toBe(node);
      const dayCount = () => direct.get(node)!.hget(quotas, dayField);

      const [first, second] = [randomBase58(16), randomBase58(16)];
      expect((await acquire(redis!, levels, first, 60_000)).admitted).toBe(true);
      expect((await acquire(redis!, levels, second, 60_000)).admitted).toBe(true);
      const third = await acquire(redis!, levels, randomBase58(16), 60_000);
      expect(third.admitted).toBe(false);
      expect(levels[third.refusingLevel]).toMatchObject({ reason: 'concurrency', scope: 'user' });
      expect(await userCounter()).toBe('2');
      expect(await direct.get(node)!.hexists(adm, `l:${first}`)).toBe(1);

      expect(await renew(redis!, leaseKeys, first, 120_000)).toBe(leaseKeys.length);
      expect(await redis!.hget(quotas, dayField)).toBe('2');
      expect(await dayCount()).toBe('2');
      // The second call failed: its leases go and its quota units come back (every counter).
      expect(await release(redis!, leaseKeys, refunds, second)).toBe(leaseKeys.length);
      expect(await userCounter()).toBe('1');
      expect(await direct.get(node)!.hexists(adm, `l:${second}`)).toBe(0);
      expect(await redis!.hget(quotas, dayField)).toBe('1');
      expect(await redis!.hmget(quotas, ...refunds.map((r) => r.field))).toEqual(refunds.map(() => '1'));
      // A retried release of the failed call refunds nothing more.
      expect(await release(redis!, leaseKeys, refunds, second)).toBe(0);
      expect(await dayCount()).toBe('1');
      expect((await acquire(redis!, levels, randomBase58(16), 60_000)).admitted).toBe(true);
      // The first call succeeded: leases released, quota kept; renewing it afterwards finds nothing.
      expect(await release(redis!, leaseKeys, [], first)).toBe(leaseKeys.length);
      expect(await userCounter()).toBe('1');
      expect(await renew(redis!, leaseKeys, first, 60_000)).toBe(0);
      expect(await redis!.hget(quotas, dayField)).toBe('2');
      expect(await dayCount()).toBe('2');
    }
  });

  it('leases the global pool from its own slot: two gateways together get exactly the pool', async () => {
    const tier = `pool${randomBase58(6).toLowerCase()}`;
    const second = Date.now();
    const now = () => second;
    const gateways = [new GlobalPool(redis!, now), new GlobalPool(redis!, now)];
    const taken = await Promise.all(gateways.flatMap((g) => Array.from({ length: 60 }, () => g.take(tier, 50))));
    expect(taken.filter(Boolean)).toHaveLength(50);
    const poolKey = redisKeys.poolSecond(tier, Math.floor(second / 1000));
    expect(await redis!.get(poolKey)).toBe('50');
    expect(await direct.get(await ownerOf(await keySlot(poolKey)))!.exists(poolKey)).toBe(1);
    // Spent for this second: refused locally, without asking Redis again.
    expect(await gateways[0]!.take(tier, 50)).toBe(false);
  });
});

describe('a gateway on the cluster (REDIS_CLUSTER_NODES)', () => {
  const LIMIT = 5;
  const N = 15;
  let stack: TestGateway | undefined;
  let pool: Pool | undefined;
  let plan: Plan;

  beforeAll(async () => {
    pool = ownerPool();
    plan = planWith(`cluster_${randomBase58(8).toLowerCase()}`, { perKey: { perMinute: LIMIT } });
    const db = await pool.connect();
    try {
      await createPlan(db, plan);
    } finally {
      db.release();
    }
    stack = await startGateway({ REDIS_CLUSTER_NODES: cluster!.nodes.join(','), TOLLGATE_KEY_CACHE_TTL: '1 h' });
    const ready = await fetch(`${stack.statusUrl}/ready`);
    expect(ready.status).toBe(200);
  });

  afterAll(async () => {
    await stack?.close();
    await pool?.end();
  });

  const callTextStats = (key: string, id: number) =>
    fetch(stack!.mcpUrl, {
      method: 'POST',
      headers: modernHeaders(key, 'tools/call', 'text_stats'),
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'text_stats', arguments: { text: 'hi there' }, _meta: MODERN_META } }),
    });

  it(`admits exactly ${LIMIT} of ${N} concurrent tools/call requests and refuses the rest with 429`, async () => {
    const tenant = await createTenant(pool!, { plan: plan.id });
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => callTextStats(tenant.key, i + 1)));
    const bodies = await Promise.all(responses.map(async (r) => ({ status: r.status, text: await r.text() })));
    const admitted = bodies.filter((b) => b.status === 200);
    const refused = bodies.filter((b) => b.status === 429);
    expect(admitted).toHaveLength(LIMIT);
    expect(refused).toHaveLength(N - LIMIT);
    for (const b of admitted) expect(b.text).toContain('"result"');
    for (const b of refused) {
      const body = JSON.parse(b.text) as { error: { code: number; data: Record<string, unknown> } };
      expect(body.error.code).toBe(-32053);
      expect(body.error.data).toMatchObject({ code: 'RATE_LIMITED', reason: 'rate', plan: plan.id, limit: LIMIT });
    }
    // The decision was taken in the cluster, on the organization's node.
    const adm = redisKeys.admission(tenant.orgId);
    const node = await ownerOf(await keySlot(adm));
    const bucket = bucketOf(await direct.get(node)!.hgetBuffer(adm, admissionFields.keyRate(tenant.keyId, plan.id)));
    expect(bucket).not.toBeNull();
    expect(bucket!.tokens).toBeLessThan(1);
    expect(stack!.logs.entries('admission could not reach Redis')).toEqual([]);
  });

  it('applies a key revocation at once through the tenancy events on the cluster', async () => {
    const tenant = await createTenant(pool!, { plan: plan.id });
    const base = stack!.mcpUrl.replace(/\/mcp$/, '');
    const list = () =>
      fetch(stack!.mcpUrl, {
        method: 'POST',
        headers: modernHeaders(tenant.key, 'tools/list'),
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } }),
      });
    expect((await list()).status).toBe(200); // now cached for an hour
    const revoked = await fetch(`${base}/v1/keys/${tenant.keyId}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${tenant.key}` } });
    expect(revoked.status).toBe(200);
    await vi.waitFor(() => expect(stack!.logs.entries('tenancy event applied').some((e) => e.event === 'key-revoked' && e.keyId === tenant.keyId)).toBe(true), {
      timeout: 5_000,
      interval: 20,
    });
    expect((await list()).status).toBe(401);
    expect(stack!.logs.entries('tenancy event not published')).toEqual([]);
  });
});
