import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AdmissionBatcher } from '../../gateway/src/admission/admission-batcher.js';
import { admissionFields as F } from '../../core/redis-keys.js';
import { createRedis, type Redis } from '../../platform/redis/client.js';
import { acquire, acquireAndRelease, acquireManyPrepared, prepareAcquire, registerScripts, releaseMany, type AcquireResult, type ScriptLevel } from '../../platform/redis/commands.js';
import { bucket as bucketLevel, countedWindow, KEY, leaseLevel, org, quota as quotaLevel, ring as ringLevel, T0, TIER, TTL, USER, type Org } from '../support/script-levels.js';

/**
 * Several calls of one shape decided in one script call (admission-acquire.lua with several
 * lease fields), as the gateway sends the calls of one key that arrive in one event-loop
 * turn (AdmissionBatcher). The promise checked here: a batch decides exactly as the same
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

const f = { key: F.keyRate(KEY, TIER), ring: F.userBurst(USER, TIER, W), counted: F.userCountedBurst(USER, TIER, 2 * W), user: F.userConcurrency(USER), org: F.orgConcurrency };
const bucket = (o: Org, limit: number) => bucketLevel(o.hash, f.key, limit, 60_000);
const ring = (o: Org, limit: number) => ringLevel(o.hash, f.ring, limit, W);
const counted = (o: Org, limit: number) => countedWindow(o.hash, f.counted, limit, 2 * W);
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
  { name: 'a counted ring next to a bucket', levels: (o) => [bucket(o, 20), counted(o, 3)], before: [['p0', 1_200]], batch: ids(5) },
  {
    name: 'a counted ring first, its calls in two slots: the hint walks the slots',
    levels: (o) => [counted(o, 4), bucket(o, 20)],
    before: [
      ['p0', 1_500],
      ['p1', 1_500],
      ['p2', 300],
    ],
    batch: ids(4),
  },
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
  // Every call admitted: the script decides the batch in one pass over the levels.
  {
    name: 'every call admitted, each level filled to exactly its limit, soft and overage quotas passed midway',
    levels: (o) => [bucket(o, 10), ring(o, 8), lease(o, f.user, 9), lease(o, f.org, 9), quota(o, 'u:d', 10, 'block'), quota(o, 'o:d', 4, 'soft'), quota(o, 'o:m', 6, 'overage')],
    before: [['p0', 300]],
    batch: ids(8),
  },
  {
    name: 'every call admitted, retries holding their slots at the concurrency cap; concurrency is the first level',
    levels: (o) => [lease(o, f.user, 3), bucket(o, 20)],
    before: [['r', 100]],
    batch: ['a', 'r', 'a', 'b', 'b'],
  },
  { name: 'every call admitted, a counted ring filled exactly', levels: (o) => [bucket(o, 20), counted(o, 6), quota(o, 'u:d', 9, 'block')], before: [['p0', 1_200]], batch: ids(5) },
  { name: 'every call admitted, a window first', levels: (o) => [ring(o, 4), lease(o, f.user, 4)], batch: ids(4) },
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

/**
 * Releases of ended calls carried by a decision of the same organization (as the gateway
 * sends them when both happen in one turn): the same outcome, the same count of live
 * leases, and byte for byte the same state as releasing them (admission-release-many.lua)
 * and then deciding the calls one at a time.
 */
interface ReleaseCase {
  readonly name: string;
  readonly levels: (o: Org) => ScriptLevel[];
  /** Calls admitted before, one at a time: [lease id, ms before the batch's instant, levels]. */
  readonly before: ReadonlyArray<readonly [string, number, ((o: Org) => ScriptLevel[])?]>;
  readonly released: readonly string[];
  readonly batch: readonly string[];
}

const other = 'usr_b';
const otherUser = F.userConcurrency(other);
const RELEASE_CASES: ReleaseCase[] = [
  {
    name: 'a full concurrency level: the released slots go to the calls of the batch',
    levels: (o) => [bucket(o, 50), lease(o, f.user, 2), lease(o, f.org, 3)],
    before: [
      ['p0', 300],
      ['p1', 200],
    ],
    released: ['p0', 'p1'],
    batch: ids(4),
  },
  {
    name: "another user's call released (a counter this shape does not decide), the batch refused by its rate",
    levels: (o) => [bucket(o, 1), lease(o, f.user, 5), lease(o, f.org, 5)],
    before: [
      ['p0', 300],
      ['x0', 200, (o) => [lease(o, otherUser, 5), lease(o, f.org, 5)]],
    ],
    released: ['x0', 'unknown'],
    batch: ids(3),
  },
  {
    name: 'an expired lease released: its slot is freed, it is not live',
    levels: (o) => [lease(o, f.user, 1)],
    before: [['old', TTL + 10]],
    released: ['old'],
    batch: ids(2),
  },
  {
    name: 'a call decided under the id of a call released with it holds no lease any more',
    levels: (o) => [bucket(o, 50), lease(o, f.user, 1)],
    before: [['same', 100]],
    released: ['same'],
    batch: ['same', 'c1'],
  },
];

describe('releases carried by a decision', () => {
  it.each(RELEASE_CASES)('end the calls as releasing them first would: $name', async ({ levels, before, released, batch }) => {
    const one = org();
    const many = org();
    const now = T0 + 60_000;
    for (const o of [one, many]) {
      for (const [id, ago, own] of before) expect((await acquire(redis, (own ?? levels)(o), id, TTL, now - ago)).admitted).toBe(true);
    }
    const live = await releaseMany(redis, one.hash, released, now);
    const sequential: AcquireResult[] = [];
    for (const id of batch) sequential.push(await acquire(redis, levels(one), id, TTL, now));
    const carried = await acquireAndRelease(redis, prepareAcquire(levels(many), TTL), batch, released, now);

    expect(carried).toEqual({ results: sequential, live });
    expect(await state(many)).toEqual(await state(one));
  });

  it('a lease released twice in one script call is released once, carried or on its own', async () => {
    const carried = org();
    const alone = org();
    const levels = (o: Org) => [bucket(o, 50), lease(o, f.user, 5)];
    for (const o of [carried, alone]) for (const id of ['p0', 'p1']) await acquire(redis, levels(o), id, TTL, T0);
    const { results, live } = await acquireAndRelease(redis, prepareAcquire(levels(carried), TTL), ['c0'], ['p0', 'p0'], T0 + 10);
    expect(results.map((r) => r.admitted)).toEqual([true]);
    expect(live).toBe(1);
    expect(await redis.hget(carried.hash, f.user)).toBe('2');
    expect((await redis.hkeys(carried.hash)).filter((k) => k.startsWith('l:')).sort()).toEqual(['l:c0', 'l:p1']);
    expect(await releaseMany(redis, alone.hash, ['p0', 'p0'], T0 + 10)).toBe(1);
    expect(await redis.hget(alone.hash, f.user)).toBe('1');
  });

  it('refuses releases with a shape whose first level is not in the admission hash, changing nothing', async () => {
    const o = org();
    const quotaOnly = prepareAcquire([quota(o, 'u:d', 5, 'block')], TTL);
    expect(quotaOnly.admissionHash).toBeUndefined();
    await expect(acquireAndRelease(redis, quotaOnly, ['c0'], ['p0'], T0)).rejects.toThrow(/admission hash/);
    expect(await redis.exists(o.quotas)).toBe(0);
  });
});

describe('AdmissionBatcher', () => {
  /** A connection whose acquire and release-many script calls are counted (the scripts themselves run in Redis). */
  function counted() {
    const conn = registerScripts(createRedis(inject('redisUrl')));
    const script = conn.admissionAcquire.bind(conn);
    const releaseScript = conn.admissionReleaseMany.bind(conn);
    const sent = { scriptCalls: 0, releaseCalls: 0 };
    conn.admissionAcquire = (...args: Parameters<typeof script>) => {
      sent.scriptCalls++;
      return script(...args);
    };
    conn.admissionReleaseMany = (...args: Parameters<typeof releaseScript>) => {
      sent.releaseCalls++;
      return releaseScript(...args);
    };
    return { conn, sent };
  }

  it('sends the calls of one shape made in one turn as one script call, decided in the order they were made', async () => {
    const { conn, sent } = counted();
    try {
      const o = org();
      const prepared = prepareAcquire([bucket(o, 5), lease(o, f.user, 100)], TTL);
      const batcher = new AdmissionBatcher(conn);
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
      const batcher = new AdmissionBatcher(conn);
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

  it("carries the releases of an organization's ended calls with its decision of the same turn; others go on their own after a few ms", async () => {
    const { conn, sent } = counted();
    try {
      const a = org();
      const b = org();
      const batcher = new AdmissionBatcher(conn);
      const shapeA = prepareAcquire([bucket(a, 50), lease(a, f.user, 2)], TTL);
      const shapeB = prepareAcquire([bucket(b, 50), lease(b, f.user, 2)], TTL);
      const first = await Promise.all([...ids(2, 'a').map((id) => batcher.acquire(shapeA, id)), batcher.acquire(shapeB, 'b0')]);
      expect(first.map((r) => r.admitted)).toEqual([true, true, true]);
      expect(sent).toEqual({ scriptCalls: 2, releaseCalls: 0 });

      // One turn: a's two calls end and two more start (its cap is 2: they fit only after
      // the releases); b's call ends with no decision of b to ride with.
      const [released, started] = await Promise.all([
        Promise.all([batcher.release(a.hash, 'a0'), batcher.release(a.hash, 'a1'), batcher.release(b.hash, 'b0')]),
        Promise.all(ids(2, 'a-next').map((id) => batcher.acquire(shapeA, id))),
      ]);
      expect(released).toEqual([true, true, true]);
      expect(started.map((r) => r.admitted)).toEqual([true, true]);
      expect(sent).toEqual({ scriptCalls: 3, releaseCalls: 1 });
      expect(await redis.hget(a.hash, f.user)).toBe('2');
      expect((await redis.hkeys(a.hash)).filter((k) => k.startsWith('l:')).sort()).toEqual(['l:a-next0', 'l:a-next1']);
      expect(await redis.hget(b.hash, f.user)).toBe('0');
      expect(await redis.hexists(b.hash, 'l:b0')).toBe(0);
    } finally {
      conn.disconnect();
    }
  });

  it('a release that finds no decision of its organization waits for one, and rides with it', async () => {
    const { conn, sent } = counted();
    try {
      const o = org();
      // A wait far longer than the test: the ride, not the clock, decides.
      const batcher = new AdmissionBatcher(conn, () => {}, 60_000);
      const shape = prepareAcquire([bucket(o, 50), lease(o, f.user, 1)], TTL);
      expect((await batcher.acquire(shape, 'first')).admitted).toBe(true);
      // The call ends in a turn of its own (its reply's), so its release finds no decision to ride with…
      const released = batcher.release(o.hash, 'first');
      await new Promise((resolve) => setImmediate(resolve));
      expect(sent).toEqual({ scriptCalls: 1, releaseCalls: 0 });
      // …and the next call, made in a later turn, carries it: at the cap of 1, it fits only after the release.
      const next = await batcher.acquire(shape, 'next');
      expect([await released, next.admitted]).toEqual([true, true]);
      expect(sent).toEqual({ scriptCalls: 2, releaseCalls: 0 });
      expect((await redis.hkeys(o.hash)).filter((k) => k.startsWith('l:'))).toEqual(['l:next']);
    } finally {
      conn.disconnect();
    }
  });

  it('close sends the releases waiting for a ride at once, and waits for them', async () => {
    const { conn, sent } = counted();
    try {
      const o = org();
      const batcher = new AdmissionBatcher(conn, () => {}, 60_000);
      expect((await batcher.acquire(prepareAcquire([lease(o, f.user, 5)], TTL), 'last')).admitted).toBe(true);
      const released = batcher.release(o.hash, 'last');
      await batcher.close();
      expect(sent).toEqual({ scriptCalls: 1, releaseCalls: 1 });
      expect(await redis.hexists(o.hash, 'l:last')).toBe(0);
      expect(await released).toBe(true);
    } finally {
      conn.disconnect();
    }
  });

  it('a failed script call fails every call of its batch and the releases it carried, and nothing is charged', async () => {
    // Nothing listens on port 1: the admission connection (no offline queue) fails at once.
    const conn = registerScripts(createRedis('redis://127.0.0.1:1', 'admission'));
    conn.on('error', () => {});
    try {
      const o = org();
      const batcher = new AdmissionBatcher(conn);
      const prepared = prepareAcquire([bucket(o, 5)], TTL);
      const outcomes = await Promise.allSettled([...ids(3).map((id) => batcher.acquire(prepared, id)), batcher.release(o.hash, 'ended')]);
      expect(outcomes.map((x) => x.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      expect(await redis.exists(o.hash)).toBe(0);
    } finally {
      conn.disconnect();
    }
  });
});
