import { beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from '../../../platform/redis/client.js';
import { GlobalPool } from './global-pool.js';

/**
 * A stand-in for Redis that implements `poolLease` as pool-lease.lua does (grant
 * min(batch, what is left of the second), 0 when spent) and records every call.
 */
class FakePoolRedis {
  readonly calls: Array<{ key: string; perSecond: number; batch: number }> = [];
  readonly used = new Map<string, number>();
  failNext: Error | null = null;

  async poolLease(key: string, perSecond: number, batch: number): Promise<number> {
    this.calls.push({ key, perSecond, batch });
    // Like a network round trip: the answer comes in a later turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = null;
      throw err;
    }
    const used = this.used.get(key) ?? 0;
    const grant = Math.max(0, Math.min(batch, perSecond - used));
    this.used.set(key, used + grant);
    return grant;
  }
}

const SECOND = 1_767_225_600; // 2026-01-01T00:00:00Z in seconds
let clock: number;
let redis: FakePoolRedis;
let pool: GlobalPool;

beforeEach(() => {
  clock = SECOND * 1_000 + 250;
  redis = new FakePoolRedis();
  pool = new GlobalPool(redis as unknown as Redis, () => clock);
});

const takeMany = (n: number, tier: string, perSecond: number) => Promise.all(Array.from({ length: n }, () => pool.take(tier, perSecond)));
const count = (xs: readonly boolean[]) => xs.filter(Boolean).length;

describe('batching', () => {
  it('leases 5% of the pool at a time from the key of the current second, and spends it locally', async () => {
    for (let i = 0; i < 25; i++) expect(await pool.take('pro', 500)).toBe(true);
    expect(redis.calls).toEqual([{ key: `tg:{pool:pro}:s:${SECOND}`, perSecond: 500, batch: 25 }]);
    expect(await pool.take('pro', 500)).toBe(true);
    expect(redis.calls).toHaveLength(2);
  });

  it('batches are 1 to 100 tokens', async () => {
    await pool.take('big', 1_000_000);
    await pool.take('small', 7);
    await pool.take('mid', 2_000);
    expect(redis.calls.map((c) => c.batch)).toEqual([100, 1, 100]);
  });

  it('concurrent takers share one lease request', async () => {
    expect(count(await takeMany(25, 'pro', 500))).toBe(25);
    expect(redis.calls).toHaveLength(1);
  });

  it('more concurrent takers than a batch lease again, one request at a time', async () => {
    expect(count(await takeMany(60, 'pro', 500))).toBe(60);
    expect(redis.calls).toHaveLength(3);
    // 75 leased, 60 spent: the next 15 need no Redis.
    expect(count(await takeMany(15, 'pro', 500))).toBe(15);
    expect(redis.calls).toHaveLength(3);
  });
});

describe('exhaustion', () => {
  it('never admits more than the pool in a second, however many take at once', async () => {
    const results = await takeMany(40, 'free', 30); // batches of 2
    expect(count(results)).toBe(30);
    expect(redis.used.get(`tg:{pool:free}:s:${SECOND}`)).toBe(30);
    // 15 grants of 2, then the one that found the pool empty.
    expect(redis.calls).toHaveLength(16);
  });

  it('once the pool is spent, refuses for the rest of the second without asking Redis', async () => {
    expect([await pool.take('free', 3), await pool.take('free', 3), await pool.take('free', 3), await pool.take('free', 3)]).toEqual([true, true, true, false]);
    expect(redis.calls).toHaveLength(4);
    clock += 700; // still the same second
    expect(count(await takeMany(20, 'free', 3))).toBe(0);
    expect(redis.calls).toHaveLength(4);
  });

  it('a spent pool of another gateway (Redis grants 0) is learned in one call', async () => {
    redis.used.set(`tg:{pool:pro}:s:${SECOND}`, 500);
    expect(count(await takeMany(10, 'pro', 500))).toBe(0);
    expect(redis.calls).toHaveLength(1);
  });

  it('tiers are independent', async () => {
    expect(await pool.take('free', 1)).toBe(true);
    expect(await pool.take('free', 1)).toBe(false);
    expect(await pool.take('pro', 1)).toBe(true);
    expect(redis.calls.map((c) => c.key)).toEqual([`tg:{pool:free}:s:${SECOND}`, `tg:{pool:free}:s:${SECOND}`, `tg:{pool:pro}:s:${SECOND}`]);
  });
});

describe('seconds', () => {
  it('a new second starts fresh: not exhausted, and leases from its own key', async () => {
    expect(count(await takeMany(4, 'free', 3))).toBe(3);
    clock = (SECOND + 1) * 1_000;
    expect(await pool.take('free', 3)).toBe(true);
    expect(redis.calls.at(-1)).toEqual({ key: `tg:{pool:free}:s:${SECOND + 1}`, perSecond: 3, batch: 1 });
  });

  it("tokens leased but unspent in their second are not carried into the next", async () => {
    expect(await pool.take('pro', 500)).toBe(true); // leased 25, 24 unspent
    clock = (SECOND + 1) * 1_000;
    expect(await pool.take('pro', 500)).toBe(true);
    expect(redis.calls.map((c) => c.key)).toEqual([`tg:{pool:pro}:s:${SECOND}`, `tg:{pool:pro}:s:${SECOND + 1}`]);
  });
});

describe('giveBack', () => {
  it('returns a token to this second’s budget', async () => {
    expect(await pool.take('pro', 500)).toBe(true); // leased 25
    pool.giveBack('pro');
    expect(count(await takeMany(25, 'pro', 500))).toBe(25);
    expect(redis.calls).toHaveLength(1);
    await pool.take('pro', 500);
    expect(redis.calls).toHaveLength(2);
  });

  it('a token given back after exhaustion can be taken again, without Redis', async () => {
    expect(await pool.take('free', 1)).toBe(true);
    expect(await pool.take('free', 1)).toBe(false);
    pool.giveBack('free');
    expect(await pool.take('free', 1)).toBe(true);
    expect(await pool.take('free', 1)).toBe(false);
    expect(redis.calls).toHaveLength(2);
  });

  it('is a no-op for a tier never taken from', () => {
    expect(() => pool.giveBack('ultra')).not.toThrow();
  });
});

describe('Redis errors', () => {
  it('reach every caller waiting on the failed lease, and the next take leases again', async () => {
    redis.failNext = new Error('connection lost');
    const results = await Promise.allSettled([pool.take('pro', 500), pool.take('pro', 500)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(redis.calls).toHaveLength(1);
    expect(await pool.take('pro', 500)).toBe(true);
    expect(redis.calls).toHaveLength(2);
  });
});
