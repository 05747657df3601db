import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AcquireBatcher } from '../../gateway/src/admission/acquire-batcher.js';
import { admissionFields as F } from '../../core/redis-keys.js';
import { createRedis, type Redis } from '../../platform/redis/client.js';
import { acquire, acquireManyPrepared, prepareAcquire, registerScripts, type AcquireResult, type ScriptLevel } from '../../platform/redis/commands.js';
import { bucket as bucketLevel, KEY, leaseLevel, org, quota as quotaLevel, ring as ringLevel, T0, TIER, TTL, USER, zsetWindow, type Org } from '../support/script-levels.js';

/**
 * Several calls of one shape decided in one script call (admission-acquire.lua with several
 * lease fields), as the gateway sends the calls of one key that arrive in one event-loop
 * turn (AcquireBatcher). The promise checked here: a batch decides exactly as the same
 * calls sent one at a time, in its order, at the same instant — the same outcome for every
 * call and byte for byte the same state in Redis. Each case runs the calls both ways on two
 * fresh organizations (same field names, their own keys) and compares.
 */
let redis: Redis;

beforeAll(() => {
  redis = registerScripts(createRedis(inject('redisUrl')));
});

afterAll(async () => {
  await redis?.quit();
});

const W = 1_000;

const f = { key: F.keyRate(KEY, TIER), ring: F.userBurst(USER, TIER, W), user: F.userConcurrency(USER), org: F.orgConcurrency };
const bucket = (o: Org, limit: number) => bucketLevel(o.hash, f.key, limit, 60_000);
const ring = (o: Org, limit: number) => ringLevel(o.hash, f.ring, limit, W);
const zset = (o: Org, limit: number) => zsetWindow(o.burst(2 * W), limit, 2 * W);
const lease = (o: Org, field: string, limit: number) => leaseLevel(o.hash, field, limit);
const quota = (o: Org, field: string, limit: number, policy: ScriptLevel['policy']) => quotaLevel(o.quotas, field, limit, 90_000_000, 7_000, policy);

/** Everything a decision can write for `o`, values as hex (byte for byte). */
async function state(o: Org) {
  const hex = (h: Record<string, Buffer>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.toString('hex')]));
  return {
    hash: hex(await redis.hgetallBuffer(o.hash)),
    hashTtl: (await redis.pttl(o.hash)) > 0,
    quotas: await redis.hgetall(o.quotas),
    quotasTtl: (await redis.pttl(o.quotas)) > 0,
    zset: await redis.zrange(o.burst(2 * W), 0, -1, 'WITHSCORES'),
  };
}

interface Case {
  readonly name: string;
  readonly levels: (o: Org) => ScriptLevel[];
  /** Calls sent one at a time before the batch: [lease id, ms before the batch's instant]. */
  readonly before?: ReadonlyArray<readonly [string, number]>;
  /** The batch's lease ids, in order (a repeated id is a retry of the same call). */
  readonly batch: readonly string[];
}

const ids = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

const CASES: Case[] = [
  {
    name: 'every kind of level in the admission hash, and quotas of each policy, filling up at different calls',
    levels: (o) => [bucket(o, 9), ring(o, 6), lease(o, f.user, 5), lease(o, f.org, 8), quota(o, 'u:d', 7, 'block'), quota(o, 'o:d', 3, 'soft'), quota(o, 'o:m', 4, 'overage')],
    before: [
      ['p0', 1_500],
      ['p1', 400],
    ],
    batch: ids(10),
  },
  { name: 'a token bucket emptied halfway through the batch', levels: (o) => [bucket(o, 4)], batch: ids(7) },
  { name: 'a ring window: calls admitted in the batch fill it, the hint waits for the right one', levels: (o) => [ring(o, 3)], before: [['p0', 700]], batch: ids(5) },
  { name: 'a sorted-set window next to a bucket', levels: (o) => [bucket(o, 20), zset(o, 3)], before: [['p0', 1_200]], batch: ids(5) },
  {
    name: 'retries of one call inside the batch hold one slot, and one of an earlier call too',
    levels: (o) => [bucket(o, 20), lease(o, f.user, 2)],
    before: [['r', 100]],
    batch: ['a', 'a', 'r', 'b', 'a', 'c'],
  },
  {
    name: 'an expired lease is housekept in the batch, and its slot goes to it',
    levels: (o) => [lease(o, f.user, 1)],
    before: [['old', TTL + 10]],
    batch: ids(3),
  },
  { name: 'a refusal before any level that follows it was read', levels: (o) => [bucket(o, 1), lease(o, f.user, 5), quota(o, 'u:d', 5, 'block')], batch: ids(3) },
];

describe('a batch of calls of one shape', () => {
  it.each(CASES)('decides as the same calls one at a time: $name', async ({ levels, before = [], batch }) => {
    const one = org();
    const many = org();
    const now = T0 + 60_000;
    for (const o of [one, many]) {
      for (const [id, ago] of before) await acquire(redis, levels(o), id, TTL, now - ago);
    }
    const sequential: AcquireResult[] = [];
    for (const id of batch) sequential.push(await acquire(redis, levels(one), id, TTL, now));
    const batched = await acquireManyPrepared(redis, prepareAcquire(levels(many), TTL), batch, now);

    expect(batched).toEqual(sequential);
    // The case is worth its name: some calls admitted, some refused (but for the housekeeping case).
    expect(sequential.some((r) => r.admitted)).toBe(true);
    expect(await state(many)).toEqual(await state(one));
  });

  it('admits exactly the capacity, the first calls in order, and charges nothing for the refused ones', async () => {
    const o = org();
    const results = await acquireManyPrepared(redis, prepareAcquire([bucket(o, 4), lease(o, f.user, 10), quota(o, 'u:d', 100, 'block')], TTL), ids(10), T0);
    expect(results.map((r) => r.admitted)).toEqual([true, true, true, true, false, false, false, false, false, false]);
    expect(results.slice(0, 4).map((r) => r.remaining)).toEqual([3, 2, 1, 0]);
    expect(results[4]).toEqual({ admitted: false, refusingLevel: 0, limit: 4, remaining: 0, retryAfterMs: 15_000, overQuota: [] });
    expect(await redis.hget(o.hash, f.user)).toBe('4');
    expect(await redis.hgetall(o.quotas)).toEqual({ 'u:d': '4' });
  });
});

describe('AcquireBatcher', () => {
  /** A connection whose acquire script calls are counted (the script itself runs in Redis). */
  function counted() {
    const conn = registerScripts(createRedis(inject('redisUrl')));
    const script = conn.admissionAcquire.bind(conn);
    const sent = { scriptCalls: 0 };
    conn.admissionAcquire = (...args: Parameters<typeof script>) => {
      sent.scriptCalls++;
      return script(...args);
    };
    return { conn, sent };
  }

  it('sends the calls of one shape made in one turn as one script call, decided in the order they were made', async () => {
    const { conn, sent } = counted();
    try {
      const o = org();
      const prepared = prepareAcquire([bucket(o, 5), lease(o, f.user, 100)], TTL);
      const batcher = new AcquireBatcher(conn);
      const results = await Promise.all(ids(12).map((id) => batcher.acquire(prepared, id)));
      expect(sent.scriptCalls).toBe(1);
      expect(results.map((r) => r.admitted)).toEqual([...Array<boolean>(5).fill(true), ...Array<boolean>(7).fill(false)]);
      expect(await redis.hget(o.hash, f.user)).toBe('5');
      const leases = (await redis.hkeys(o.hash)).filter((k) => k.startsWith('l:')).sort();
      expect(leases).toEqual(ids(5).map((id) => `l:${id}`));
    } finally {
      conn.disconnect();
    }
  });

  it('sends each shape of one turn apart, and a call of a later turn in a script call of its own', async () => {
    const { conn, sent } = counted();
    try {
      const a = org();
      const b = org();
      const batcher = new AcquireBatcher(conn);
      const shapeA = prepareAcquire([bucket(a, 2)], TTL);
      const shapeB = prepareAcquire([bucket(b, 3)], TTL);
      const turn = await Promise.all([...ids(4, 'a').map((id) => batcher.acquire(shapeA, id)), ...ids(4, 'b').map((id) => batcher.acquire(shapeB, id))]);
      expect(sent.scriptCalls).toBe(2);
      expect(turn.map((r) => r.admitted)).toEqual([true, true, false, false, true, true, true, false]);
      const later = await batcher.acquire(shapeB, 'b-later');
      expect(sent.scriptCalls).toBe(3);
      expect(later.admitted).toBe(false);
    } finally {
      conn.disconnect();
    }
  });

  it('a failed script call fails every call of its batch, and nothing is charged', async () => {
    // Nothing listens on port 1: the admission connection (no offline queue) fails at once.
    const conn = registerScripts(createRedis('redis://127.0.0.1:1', 'admission'));
    conn.on('error', () => {});
    try {
      const o = org();
      const batcher = new AcquireBatcher(conn);
      const prepared = prepareAcquire([bucket(o, 5)], TTL);
      const outcomes = await Promise.allSettled(ids(3).map((id) => batcher.acquire(prepared, id)));
      expect(outcomes.map((x) => x.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(await redis.exists(o.hash)).toBe(0);
    } finally {
      conn.disconnect();
    }
  });
});
