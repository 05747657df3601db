import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newId } from '../../core/ids.js';
import { redisKeys } from '../../core/redis-keys.js';
import { createRedis, type Redis } from '../../platform/redis/client.js';
import { acquire, registerScripts, release, renew, type AcquireResult, type QuotaRef, type ScriptLevel } from '../../platform/redis/commands.js';

/**
 * The admission scripts against a real Redis, each claim of their header comments checked
 * with exact numbers. Every script call takes an explicit clock (`nowMs`), so nothing here
 * depends on real time: refills, window slides and lease expiries happen by moving `now`.
 * Every test works on keys of a fresh organization hash tag, so tests never share state.
 * Storage read directly: a bucket is the string "tokens:ts", windows and lease sets are
 * sorted sets, quota counters are fields of one hash per organization and period.
 */
let redis: Redis;

beforeAll(() => {
  redis = registerScripts(createRedis(inject('redisUrl')));
});

afterAll(async () => {
  await redis?.quit();
});

/** A fixed instant (2026-01-01T00:00:00Z); every test moves its own clock from here. */
const T0 = Date.UTC(2026, 0, 1);
/** A lease TTL long enough that real-time key expiry (TTL + 1 s) never interferes. */
const TTL = 30_000;

/** A fresh organization: its keys share one hash tag no other test uses. */
function org() {
  const orgId = newId('org');
  return { orgId, key: (suffix: string) => `tg:{${orgId}}:test:${suffix}` };
}

let leaseSeq = 0;
const leaseId = () => `lease-${++leaseSeq}-${Math.random().toString(36).slice(2, 8)}`;

const bucket = (key: string, limit: number, periodMs: number): ScriptLevel => ({ kind: 'bucket', key, limit, p1: periodMs, p2: 0, policy: 'block' });
const windowLevel = (key: string, limit: number, windowMs: number): ScriptLevel => ({ kind: 'window', key, limit, p1: windowMs, p2: 0, policy: 'block' });
const leaseLevel = (key: string, limit: number): ScriptLevel => ({ kind: 'lease', key, limit, p1: 0, p2: 0, policy: 'block' });
const quota = (key: string, field: string, limit: number, ttlMs: number, resetMs: number, policy: ScriptLevel['policy'] = 'block'): ScriptLevel => ({
  kind: 'quota',
  key,
  field,
  limit,
  p1: ttlMs,
  p2: resetMs,
  policy,
});
const ref = (key: string, field: string): QuotaRef => ({ key, field });

/** `count` sequential calls at one instant, each with a lease id of its own. */
async function calls(levels: readonly ScriptLevel[], count: number, now: number): Promise<AcquireResult[]> {
  const out: AcquireResult[] = [];
  for (let i = 0; i < count; i++) out.push(await acquire(redis, levels, leaseId(), TTL, now));
  return out;
}

const admittedCount = (rs: readonly AcquireResult[]) => rs.filter((r) => r.admitted).length;

describe('token bucket', () => {
  // 5 per minute: one token every 12 000 ms, exactly representable at the instants used.
  const N = 5;
  const PERIOD = 60_000;

  it('admits exactly its capacity at one instant, then refuses with the time to one token', async () => {
    const key = org().key('bucket');
    const levels = [bucket(key, N, PERIOD)];
    const rs = await calls(levels, N, T0);
    expect(rs.map((r) => [r.admitted, r.remaining, r.limit, r.refusingLevel])).toEqual([
      [true, 4, N, -1],
      [true, 3, N, -1],
      [true, 2, N, -1],
      [true, 1, N, -1],
      [true, 0, N, -1],
    ]);
    const refused = await acquire(redis, levels, leaseId(), TTL, T0);
    expect(refused).toEqual({ admitted: false, refusingLevel: 0, limit: N, remaining: 0, retryAfterMs: 12_000, overQuota: [] });
    // Stored as the string "tokens:ts", expiring a second after a full refill.
    expect(await redis.type(key)).toBe('string');
    expect(await redis.get(key)).toBe(`0:${T0}`);
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(PERIOD - 10_000);
    expect(pttl).toBeLessThanOrEqual(PERIOD + 1_000);
  });

  it('keeps fractions of a token: half a token after 6 s, a whole one (admitted) after 12 s', async () => {
    const key = org().key('bucket');
    const levels = [bucket(key, N, PERIOD)];
    expect(admittedCount(await calls(levels, N - 1, T0))).toBe(N - 1);
    // 1 token left, + 0.5 after 6 s: admitted, 0.5 left.
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 6_000)).toMatchObject({ admitted: true, remaining: 0 });
    expect(await redis.get(key)).toBe(`0.5:${T0 + 6_000}`);
    // 0.5 + 0.25 after 3 s: refused, 3 s to go.
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 9_000)).toMatchObject({ admitted: false, retryAfterMs: 3_000 });
    expect(await redis.get(key)).toBe(`0.5:${T0 + 6_000}`);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 12_000)).admitted).toBe(true);
    expect(await redis.get(key)).toBe(`0:${T0 + 12_000}`);
  });

  it('refills at capacity per period: the retry hint shrinks with the clock, a token appears exactly on time', async () => {
    const key = org().key('bucket');
    const levels = [bucket(key, N, PERIOD)];
    expect(admittedCount(await calls(levels, N, T0))).toBe(N);
    expect(await redis.get(key)).toBe(`0:${T0}`);

    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 6_000)).retryAfterMs).toBe(6_000);
    const almost = await acquire(redis, levels, leaseId(), TTL, T0 + 11_999);
    expect(almost.admitted).toBe(false);
    expect(almost.retryAfterMs).toBe(1);
    // Refusals charge nothing: the stored state is still the one of the last admission.
    expect(await redis.get(key)).toBe(`0:${T0}`);

    const onTime = await acquire(redis, levels, leaseId(), TTL, T0 + 12_000);
    expect(onTime.admitted).toBe(true);
    expect(onTime.remaining).toBe(0);
    expect(await redis.get(key)).toBe(`0:${T0 + 12_000}`);
    const next = await acquire(redis, levels, leaseId(), TTL, T0 + 12_000);
    expect(next).toMatchObject({ admitted: false, retryAfterMs: 12_000 });
  });

  it('is full again one period after it emptied, and never holds more than its capacity', async () => {
    const levels = [bucket(org().key('bucket'), N, PERIOD)];
    expect(admittedCount(await calls(levels, N, T0))).toBe(N);
    expect(admittedCount(await calls(levels, N + 1, T0 + PERIOD))).toBe(N);
    // Idle for ten periods: still only N at once.
    expect(admittedCount(await calls(levels, N + 3, T0 + 11 * PERIOD))).toBe(N);
  });

  it('a zero capacity refuses everything with the period as the hint', async () => {
    const r = await acquire(redis, [bucket(org().key('bucket'), 0, PERIOD)], leaseId(), TTL, T0);
    expect(r).toMatchObject({ admitted: false, refusingLevel: 0, limit: 0, remaining: 0, retryAfterMs: PERIOD });
  });
});

describe('sliding window', () => {
  const M = 3;
  const W = 1_000;

  it('refuses the (M+1)th call inside the window until the oldest call leaves it', async () => {
    const key = org().key('window');
    const levels = [windowLevel(key, M, W)];
    const admitted = [await acquire(redis, levels, leaseId(), TTL, T0), await acquire(redis, levels, leaseId(), TTL, T0 + 100), await acquire(redis, levels, leaseId(), TTL, T0 + 200)];
    expect(admitted.map((r) => [r.admitted, r.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
    ]);

    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 300)).toEqual({ admitted: false, refusingLevel: 0, limit: M, remaining: 0, retryAfterMs: 700, overQuota: [] });
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 999)).retryAfterMs).toBe(1);
    // Refused calls are not logged in the window.
    expect(await redis.zcard(key)).toBe(M);

    // Exactly W after the oldest call, it has left the window.
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + W)).admitted).toBe(true);
    // Now the oldest is the call at T0 + 100.
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + W)).toMatchObject({ admitted: false, retryAfterMs: 100 });
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + W + 100)).admitted).toBe(true);
    expect(await redis.zcard(key)).toBe(M);
  });

  it('M calls at one instant: the next waits the whole window, and exactly W later M are admitted again', async () => {
    const levels = [windowLevel(org().key('window'), M, W)];
    expect(admittedCount(await calls(levels, M, T0))).toBe(M);
    expect(await acquire(redis, levels, leaseId(), TTL, T0)).toMatchObject({ admitted: false, retryAfterMs: W });
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + W - 1)).toMatchObject({ admitted: false, retryAfterMs: 1 });
    expect(admittedCount(await calls(levels, M + 1, T0 + W))).toBe(M);
  });
});

describe('concurrency leases', () => {
  const C = 2;

  it('admits C concurrent calls and refuses the next with a one second hint', async () => {
    const key = org().key('leases');
    const levels = [leaseLevel(key, C)];
    const rs = await calls(levels, C, T0);
    expect(rs.map((r) => [r.admitted, r.remaining])).toEqual([
      [true, 1],
      [true, 0],
    ]);
    expect(await acquire(redis, levels, leaseId(), TTL, T0)).toEqual({ admitted: false, refusingLevel: 0, limit: C, remaining: 0, retryAfterMs: 1_000, overQuota: [] });
    expect(await redis.zcard(key)).toBe(C);
  });

  it('an unreleased lease expires after its TTL and frees its slot', async () => {
    const key = org().key('leases');
    const levels = [leaseLevel(key, C)];
    expect(admittedCount(await calls(levels, C, T0))).toBe(C);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + TTL - 1)).admitted).toBe(false);
    expect(admittedCount(await calls(levels, C + 1, T0 + TTL))).toBe(C);
    // Acquire leaves the expired leases in the set (release and renew prune them): they
    // are there, and were not counted.
    expect(await redis.zcard(key)).toBe(2 * C);
    expect(await redis.zcount(key, '-inf', T0 + TTL)).toBe(C);
  });

  it('release frees the slot at once', async () => {
    const key = org().key('leases');
    const levels = [leaseLevel(key, C)];
    const first = leaseId();
    expect((await acquire(redis, levels, first, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(true);
    expect(await release(redis, [key], [], first, T0)).toBe(1);
    expect(await redis.zscore(key, first)).toBeNull();
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(false);
  });

  it('renew extends a lease past its original TTL; an expired, reclaimed lease cannot be renewed', async () => {
    const key = org().key('leases');
    const levels = [leaseLevel(key, C)];
    const [a, b] = [leaseId(), leaseId()];
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, b, TTL, T0)).admitted).toBe(true);

    expect(await renew(redis, [key], a, TTL, T0 + 20_000)).toBe(1);
    expect(Number(await redis.zscore(key, a))).toBe(T0 + 20_000 + TTL);

    // At the original expiry b is gone, a is not: one slot frees, not two.
    expect(admittedCount(await calls(levels, C, T0 + TTL))).toBe(1);
    expect(await redis.zscore(key, a)).not.toBeNull();
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 20_000 + TTL - 1)).admitted).toBe(false);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 20_000 + TTL)).admitted).toBe(true);

    // b expired and its slot went to another call: renewing it reports the loss and
    // does not bring it back.
    expect(await renew(redis, [key], b, TTL, T0 + TTL + 1)).toBe(0);
    expect(await redis.zscore(key, b)).toBeNull();
  });

  it('renew of a lease past its TTL returns 0 even before another call reclaimed the slot', async () => {
    const key = org().key('leases');
    const levels = [leaseLevel(key, C)];
    const a = leaseId();
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    // No call came by since the expiry; the lease is expired all the same: not revived,
    // and pruned from the set.
    expect(await renew(redis, [key], a, TTL, T0 + TTL + 1)).toBe(0);
    expect(await redis.zscore(key, a)).toBeNull();
    expect(await redis.zcard(key)).toBe(0);
    // And its slot is free: the cap is available in full.
    expect(admittedCount(await calls(levels, C + 1, T0 + TTL + 1))).toBe(C);
  });

  it('renew reports every lease of the call it still holds (user and organization)', async () => {
    const o = org();
    const [userKey, orgKey] = [o.key('conc:user'), o.key('conc:org')];
    const levels = [leaseLevel(userKey, 1), leaseLevel(orgKey, 5)];
    const a = leaseId();
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect(await renew(redis, [userKey, orgKey], a, TTL, T0 + 10_000)).toBe(2);
    expect(await renew(redis, [userKey, orgKey], 'no-such-lease', TTL, T0 + 10_000)).toBe(0);
    expect(await redis.zscore(userKey, 'no-such-lease')).toBeNull();
    expect(await redis.zscore(orgKey, 'no-such-lease')).toBeNull();
  });

  it('renew counts only the leases still held: an expired one is not revived, a live one is extended', async () => {
    const o = org();
    const [userKey, orgKey] = [o.key('conc:user'), o.key('conc:org')];
    const a = leaseId();
    // The same call holds the user lease from T0 and the organization lease from T0 + 10 s.
    expect((await acquire(redis, [leaseLevel(userKey, 1)], a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, [leaseLevel(orgKey, 5)], a, TTL, T0 + 10_000)).admitted).toBe(true);
    expect(await renew(redis, [userKey, orgKey], a, TTL, T0 + TTL)).toBe(1);
    expect(await redis.zscore(userKey, a)).toBeNull();
    expect(await redis.zscore(orgKey, a)).toBe(String(T0 + 2 * TTL));
  });
});

describe('quotas', () => {
  const DAY_TTL = 90_000_000;
  const RESET = 3_600_000;

  it("'block' refuses the (Q+1)th call with the time to the reset; the counter expires with its hash's TTL", async () => {
    const key = org().key('quotas');
    const levels = [quota(key, 'u:usr:d:2026-01-01', 3, DAY_TTL, RESET, 'block')];
    const rs = await calls(levels, 3, T0);
    expect(rs.map((r) => [r.admitted, r.remaining, r.overQuota])).toEqual([
      [true, 2, []],
      [true, 1, []],
      [true, 0, []],
    ]);
    expect(await acquire(redis, levels, leaseId(), TTL, T0)).toEqual({ admitted: false, refusingLevel: 0, limit: 3, remaining: 0, retryAfterMs: RESET, overQuota: [] });
    expect(await redis.type(key)).toBe('hash');
    expect(await redis.hgetall(key)).toEqual({ 'u:usr:d:2026-01-01': '3' });
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(DAY_TTL - 10_000);
    expect(pttl).toBeLessThanOrEqual(DAY_TTL);
  });

  it.each(['soft', 'overage'] as const)("'%s' admits past the limit, reports the level in overQuota, and keeps counting", async (policy) => {
    const o = org();
    const key = o.key('quotas');
    const levels = [bucket(o.key('bucket'), 100, 60_000), quota(key, 'o', 2, DAY_TTL, RESET, policy)];
    const rs = await calls(levels, 4, T0);
    expect(rs.map((r) => [r.admitted, r.overQuota])).toEqual([
      [true, []],
      [true, []],
      [true, [1]],
      [true, [1]],
    ]);
    // `remaining` stays the first level's (the bucket), over quota or not.
    expect(rs.map((r) => r.remaining)).toEqual([99, 98, 97, 96]);
    expect(await redis.hgetall(key)).toEqual({ o: '4' });
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(DAY_TTL - 10_000);
    expect(pttl).toBeLessThanOrEqual(DAY_TTL);
  });

  it('reports every quota level admitted past its limit, by index', async () => {
    const key = org().key('quotas');
    const levels = [quota(key, 'u:a:d:1', 1, DAY_TTL, RESET, 'soft'), quota(key, 'o:d:1', 5, DAY_TTL, RESET, 'soft'), quota(key, 'u:a', 1, DAY_TTL, RESET, 'overage')];
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).overQuota).toEqual([]);
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).overQuota).toEqual([0, 2]);
    expect(await redis.hgetall(key)).toEqual({ 'u:a:d:1': '2', 'o:d:1': '2', 'u:a': '2' });
  });

  it('counters are per field and per hash: fields of one hash and of two hashes count independently', async () => {
    const o = org();
    const [h1, h2] = [o.key('quotas:m:1'), o.key('quotas:m:2')];
    // Fields of two hashes interleaved, one field name in both.
    const levels = [quota(h1, 'a', 3, DAY_TTL, 1_000), quota(h2, 'a', 2, DAY_TTL, 2_000), quota(h1, 'b', 5, DAY_TTL, 3_000)];
    expect(admittedCount(await calls(levels, 2, T0))).toBe(2);
    expect(await redis.hgetall(h1)).toEqual({ a: '2', b: '2' });
    expect(await redis.hgetall(h2)).toEqual({ a: '2' });
    // h2's field is spent: its level refuses, and nothing is charged anywhere.
    expect(await acquire(redis, levels, leaseId(), TTL, T0)).toEqual({ admitted: false, refusingLevel: 1, limit: 2, remaining: 0, retryAfterMs: 2_000, overQuota: [] });
    expect(await redis.hgetall(h1)).toEqual({ a: '2', b: '2' });
    expect(await redis.hgetall(h2)).toEqual({ a: '2' });
    // Another field of h1 alone is untouched by all this.
    expect((await acquire(redis, [quota(h1, 'c', 1, DAY_TTL, 1_000)], leaseId(), TTL, T0)).admitted).toBe(true);
    expect(await redis.hgetall(h1)).toEqual({ a: '2', b: '2', c: '1' });
  });

  it("a new field sets the hash's TTL (the first call of a day in a period that already has counters)", async () => {
    const key = org().key('quotas');
    expect((await acquire(redis, [quota(key, 'u:a:d:1', 10, DAY_TTL, RESET)], leaseId(), TTL, T0)).admitted).toBe(true);
    // Someone shortened it (or it was set by an older period length): a new field sets it again.
    await redis.pexpire(key, 60_000);
    expect((await acquire(redis, [quota(key, 'u:a:d:2', 10, DAY_TTL, RESET)], leaseId(), TTL, T0)).admitted).toBe(true);
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(DAY_TTL - 10_000);
    expect(pttl).toBeLessThanOrEqual(DAY_TTL);
    expect(await redis.hgetall(key)).toEqual({ 'u:a:d:1': '1', 'u:a:d:2': '1' });
  });
});

describe('all or nothing', () => {
  it('when the last level refuses, no earlier level is charged', async () => {
    const o = org();
    const k = { bucket: o.key('bucket'), window: o.key('window'), lease: o.key('lease'), quotas: o.key('quotas') };
    // The two quotas are fields of one hash, as in a real call; the last one is the gate.
    const levels = [bucket(k.bucket, 10, 60_000), windowLevel(k.window, 10, 1_000), leaseLevel(k.lease, 10), quota(k.quotas, 'q', 10, 90_000_000, 1_000, 'block'), quota(k.quotas, 'gate', 1, 90_000_000, 5_000, 'block')];
    const first = leaseId();
    expect((await acquire(redis, levels, first, TTL, T0)).admitted).toBe(true);
    const snapshot = async () => ({
      bucket: await redis.get(k.bucket),
      window: await redis.zrange(k.window, 0, -1, 'WITHSCORES'),
      lease: await redis.zrange(k.lease, 0, -1, 'WITHSCORES'),
      quotas: await redis.hgetall(k.quotas),
    });
    const before = await snapshot();
    expect(before).toEqual({ bucket: `9:${T0}`, window: [first, String(T0)], lease: [first, String(T0 + TTL)], quotas: { q: '1', gate: '1' } });

    for (const now of [T0, T0 + 500]) {
      const second = leaseId();
      expect(await acquire(redis, levels, second, TTL, now)).toEqual({ admitted: false, refusingLevel: 4, limit: 1, remaining: 0, retryAfterMs: 5_000, overQuota: [] });
      expect(await snapshot()).toEqual(before);
    }
  });

  it('when a lease level refuses, the rates before it and the quota after it are untouched', async () => {
    const o = org();
    const k = { bucket: o.key('bucket'), window: o.key('window'), lease: o.key('lease'), quotas: o.key('quotas') };
    const levels = [bucket(k.bucket, 10, 60_000), windowLevel(k.window, 10, 1_000), leaseLevel(k.lease, 1), quota(k.quotas, 'q', 10, 90_000_000, 1_000, 'block')];
    // The only slot is held by a call of another path (the lease level alone).
    expect((await acquire(redis, [leaseLevel(k.lease, 1)], leaseId(), TTL, T0)).admitted).toBe(true);
    const r = await acquire(redis, levels, leaseId(), TTL, T0);
    expect(r).toEqual({ admitted: false, refusingLevel: 2, limit: 1, remaining: 0, retryAfterMs: 1_000, overQuota: [] });
    expect(await redis.exists(k.bucket, k.window, k.quotas)).toBe(0);
    expect(await redis.zcard(k.lease)).toBe(1);
  });

  it('a soft quota past its limit is not reported (nor charged) when a later level refuses', async () => {
    const o = org();
    const key = o.key('quotas');
    await redis.hset(key, 'soft', '5', 'gate', '1');
    const r = await acquire(redis, [quota(key, 'soft', 5, 90_000_000, 1_000, 'soft'), quota(key, 'gate', 1, 90_000_000, 2_000, 'block')], leaseId(), TTL, T0);
    expect(r).toEqual({ admitted: false, refusingLevel: 1, limit: 1, remaining: 0, retryAfterMs: 2_000, overQuota: [] });
    expect(await redis.hgetall(key)).toEqual({ soft: '5', gate: '1' });
    // Not even an expiry was written.
    expect(await redis.pttl(key)).toBe(-1);
  });

  it('reports the first refusing level in order, whichever kind it is', async () => {
    const o = org();
    const k = { lease: o.key('lease'), quotas: o.key('quotas'), bucket: o.key('bucket') };
    await redis.hset(k.quotas, 'q', '2');
    expect((await acquire(redis, [leaseLevel(k.lease, 1)], leaseId(), TTL, T0)).admitted).toBe(true);
    const exhaustedQuota = quota(k.quotas, 'q', 2, 90_000_000, 7_000, 'block');
    const fullLeases = leaseLevel(k.lease, 1);
    const ok = bucket(k.bucket, 10, 60_000);

    expect(await acquire(redis, [ok, exhaustedQuota, fullLeases], leaseId(), TTL, T0)).toMatchObject({ admitted: false, refusingLevel: 1, limit: 2, retryAfterMs: 7_000 });
    expect(await acquire(redis, [ok, fullLeases, exhaustedQuota], leaseId(), TTL, T0)).toMatchObject({ admitted: false, refusingLevel: 1, limit: 1, retryAfterMs: 1_000 });
    expect(await acquire(redis, [fullLeases, ok, exhaustedQuota], leaseId(), TTL, T0)).toMatchObject({ admitted: false, refusingLevel: 0, limit: 1, retryAfterMs: 1_000 });
    expect(await redis.exists(k.bucket)).toBe(0);
    expect(await redis.hgetall(k.quotas)).toEqual({ q: '2' });
    expect(await redis.zcard(k.lease)).toBe(1);
  });
});

describe('release', () => {
  const setup = async () => {
    const o = org();
    const k = { lease: o.key('lease'), quotas: o.key('quotas') };
    const levels = [leaseLevel(k.lease, 5), quota(k.quotas, 'u:a:d:1', 10, 90_000_000, 1_000), quota(k.quotas, 'u:a', 10, 90_000_000, 1_000)];
    const refunds = [ref(k.quotas, 'u:a:d:1'), ref(k.quotas, 'u:a')];
    const [a, b] = [leaseId(), leaseId()];
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, b, TTL, T0)).admitted).toBe(true);
    const counters = () => redis.hmget(k.quotas, 'u:a:d:1', 'u:a');
    expect(await counters()).toEqual(['2', '2']);
    return { o, k, levels, refunds, counters, a, b };
  };

  it('with refunds, drops the lease and gives the quota units back', async () => {
    const { k, refunds, counters, a } = await setup();
    expect(await release(redis, [k.lease], refunds, a, T0)).toBe(1);
    expect(await counters()).toEqual(['1', '1']);
    expect(await redis.zscore(k.lease, a)).toBeNull();
    expect(await redis.zcard(k.lease)).toBe(1);
  });

  it('refunds exactly the counters listed, nothing else of the hash', async () => {
    const { k, refunds, counters, a } = await setup();
    expect(await release(redis, [k.lease], refunds.slice(0, 1), a, T0)).toBe(1);
    expect(await counters()).toEqual(['1', '2']);
    expect(await redis.hlen(k.quotas)).toBe(2);
  });

  it('without refunds, drops the lease and keeps the charge', async () => {
    const { k, counters, a } = await setup();
    expect(await release(redis, [k.lease], [], a, T0)).toBe(1);
    expect(await counters()).toEqual(['2', '2']);
    expect(await redis.zcard(k.lease)).toBe(1);
  });

  it('releasing the same call twice is harmless: no second refund, no other lease dropped', async () => {
    const { k, refunds, counters, a, b } = await setup();
    expect(await release(redis, [k.lease], refunds, a, T0)).toBe(1);
    expect(await release(redis, [k.lease], refunds, a, T0)).toBe(0);
    // b's charge and b's lease stay.
    expect(await counters()).toEqual(['1', '1']);
    expect(await redis.zscore(k.lease, b)).toBe(String(T0 + TTL));
  });

  it('a retried release with refunds, after one without, refunds nothing either', async () => {
    const { k, refunds, counters, a } = await setup();
    expect(await release(redis, [k.lease], [], a, T0)).toBe(1);
    expect(await release(redis, [k.lease], refunds, a, T0)).toBe(0);
    expect(await counters()).toEqual(['2', '2']);
  });

  it('releasing twice without refunds changes nothing the second time', async () => {
    const { k, counters, a } = await setup();
    expect(await release(redis, [k.lease], [], a, T0)).toBe(1);
    expect(await release(redis, [k.lease], [], a, T0)).toBe(0);
    expect(await counters()).toEqual(['2', '2']);
    expect(await redis.zcard(k.lease)).toBe(1);
  });

  it('prunes the expired leases it meets (of other calls) and keeps the live ones', async () => {
    const { k, levels, a, b } = await setup();
    const c = leaseId();
    expect((await acquire(redis, levels, c, TTL, T0 + 10_000)).admitted).toBe(true);
    // At T0 + TTL, a and b (acquired at T0) have expired; c has not.
    const d = leaseId();
    expect((await acquire(redis, levels, d, TTL, T0 + TTL)).admitted).toBe(true);
    expect(await redis.zcard(k.lease)).toBe(4);
    expect(await release(redis, [k.lease], [], d, T0 + TTL)).toBe(1);
    expect(await redis.zrange(k.lease, 0, -1, 'WITHSCORES')).toEqual([c, String(T0 + 10_000 + TTL)]);
    expect(await redis.zscore(k.lease, a)).toBeNull();
    expect(await redis.zscore(k.lease, b)).toBeNull();
  });

  it('a release after its own lease expired releases nothing and refunds nothing (the lease was no longer held)', async () => {
    const { k, refunds, counters, a, b } = await setup();
    // Nothing pruned a's lease yet: it is still in the set, but expired since T0 + TTL.
    expect(await redis.zscore(k.lease, a)).toBe(String(T0 + TTL));
    expect(await release(redis, [k.lease], refunds, a, T0 + TTL)).toBe(0);
    expect(await counters()).toEqual(['2', '2']);
    // b's expired lease went too, pruned on the way; a second release of b finds nothing either.
    expect(await redis.zcard(k.lease)).toBe(0);
    expect(await release(redis, [k.lease], refunds, b, T0 + TTL)).toBe(0);
    expect(await counters()).toEqual(['2', '2']);
  });

  it('refunds counters of several hashes in one call, next to several lease sets', async () => {
    const o = org();
    const k = { user: o.key('conc:user'), org: o.key('conc:org'), m1: o.key('quotas:m:1'), m2: o.key('quotas:m:2') };
    const levels = [leaseLevel(k.user, 2), leaseLevel(k.org, 5), quota(k.m1, 'u:a', 10, 90_000_000, 1_000), quota(k.m2, 'u:a', 10, 90_000_000, 1_000), quota(k.m1, 'o', 10, 90_000_000, 1_000)];
    const [a, b] = [leaseId(), leaseId()];
    expect(admittedCount([await acquire(redis, levels, a, TTL, T0), await acquire(redis, levels, b, TTL, T0)])).toBe(2);
    expect(await release(redis, [k.user, k.org], [ref(k.m1, 'u:a'), ref(k.m2, 'u:a'), ref(k.m1, 'o')], a, T0)).toBe(2);
    expect(await redis.hgetall(k.m1)).toEqual({ 'u:a': '1', o: '1' });
    expect(await redis.hgetall(k.m2)).toEqual({ 'u:a': '1' });
    expect(await redis.zrange(k.user, 0, -1)).toEqual([b]);
    expect(await redis.zrange(k.org, 0, -1)).toEqual([b]);
  });

  it('a call without leases is refunded; a refund never takes a counter below zero, nor recreates a field or an expired hash', async () => {
    const o = org();
    const [quotas, expired] = [o.key('quotas'), o.key('quotas:expired')];
    await redis.hset(quotas, 'used', '3', 'zero', '0');
    expect(await release(redis, [], [ref(quotas, 'used'), ref(quotas, 'zero'), ref(quotas, 'gone'), ref(expired, 'u:a')], leaseId(), T0)).toBe(0);
    expect(await redis.hgetall(quotas)).toEqual({ used: '2', zero: '0' });
    expect(await redis.exists(expired)).toBe(0);
  });
});

describe('global pool lease', () => {
  it('grants min(batch, remaining) for the second, then 0; another second is independent', async () => {
    const tier = `t${newId('plan').slice(4, 12).toLowerCase()}`;
    const second = Math.floor(T0 / 1_000);
    const key = redisKeys.poolSecond(tier, second);
    const grants: number[] = [];
    for (let i = 0; i < 5; i++) grants.push(await redis.poolLease(key, 10, 4));
    expect(grants).toEqual([4, 4, 2, 0, 0]);
    expect(await redis.get(key)).toBe('10');
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(2_000);

    const next = redisKeys.poolSecond(tier, second + 1);
    expect(await redis.poolLease(next, 10, 4)).toBe(4);
    expect(await redis.get(key)).toBe('10');
  });

  it('a pool of zero grants nothing', async () => {
    const key = redisKeys.poolSecond(`z${newId('plan').slice(4, 12).toLowerCase()}`, Math.floor(T0 / 1_000));
    expect(await redis.poolLease(key, 0, 4)).toBe(0);
    expect(await redis.exists(key)).toBe(0);
  });
});

describe('script cache', () => {
  it('after SCRIPT FLUSH, acquire still works (EVALSHA falls back to EVAL, which reloads the script)', async () => {
    const lua = readFileSync(new URL('../../platform/redis/scripts/admission-acquire.lua', import.meta.url), 'utf8');
    const sha = createHash('sha1').update(lua).digest('hex');
    const levels = [bucket(org().key('bucket'), 2, 60_000)];
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(true);
    expect(await redis.script('EXISTS', sha)).toEqual([1]);

    await redis.script('FLUSH');
    expect(await redis.script('EXISTS', sha)).toEqual([0]);

    const r = await acquire(redis, levels, leaseId(), TTL, T0);
    expect(r).toMatchObject({ admitted: true, remaining: 0 });
    expect(await redis.script('EXISTS', sha)).toEqual([1]);
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(false);
  });
});

describe('concurrent callers', () => {
  const CALLS = 200;
  const CAP = 37;
  let extra: Redis[] = [];

  beforeAll(() => {
    extra = Array.from({ length: 3 }, () => registerScripts(createRedis(inject('redisUrl'))));
  });

  afterAll(async () => {
    await Promise.all(extra.map((c) => c.quit()));
  });

  /** 200 calls at once, spread over four connections. */
  const storm = (levels: readonly ScriptLevel[]) => {
    const conns = [redis, ...extra];
    return Promise.all(Array.from({ length: CALLS }, (_, i) => acquire(conns[i % conns.length]!, levels, leaseId(), TTL, T0)));
  };

  it(`${CALLS} concurrent calls against a bucket of ${CAP} admit exactly ${CAP}`, async () => {
    const key = org().key('bucket');
    const rs = await storm([bucket(key, CAP, 60_000)]);
    expect(admittedCount(rs)).toBe(CAP);
    expect(rs.filter((r) => !r.admitted).every((r) => r.refusingLevel === 0 && r.retryAfterMs > 0)).toBe(true);
    expect(await redis.get(key)).toBe(`0:${T0}`);
  });

  it(`${CALLS} concurrent calls against ${CAP} concurrency slots hold exactly ${CAP} leases`, async () => {
    const key = org().key('lease');
    const rs = await storm([leaseLevel(key, CAP)]);
    expect(admittedCount(rs)).toBe(CAP);
    expect(await redis.zcard(key)).toBe(CAP);
  });

  it(`${CALLS} concurrent calls against a 'block' quota of ${CAP} admit exactly ${CAP}, and count exactly ${CAP}`, async () => {
    const key = org().key('quotas');
    const rs = await storm([quota(key, 'u:a:d:1', CAP, 90_000_000, 1_000, 'block'), quota(key, 'o', 10 * CALLS, 90_000_000, 1_000, 'block')]);
    expect(admittedCount(rs)).toBe(CAP);
    expect(rs.filter((r) => !r.admitted).every((r) => r.refusingLevel === 0 && r.retryAfterMs === 1_000)).toBe(true);
    expect(await redis.hgetall(key)).toEqual({ 'u:a:d:1': String(CAP), o: String(CAP) });
  });

  it(`${CALLS} concurrent releases with refunds of ${CAP} calls, each released twice, refund each call exactly once`, async () => {
    const o = org();
    const k = { lease: o.key('lease'), quotas: o.key('quotas') };
    const levels = [leaseLevel(k.lease, CALLS), quota(k.quotas, 'u:a', CALLS, 90_000_000, 1_000)];
    const ids = Array.from({ length: CAP }, () => leaseId());
    for (const id of ids) expect((await acquire(redis, levels, id, TTL, T0)).admitted).toBe(true);
    const conns = [redis, ...extra];
    const released = await Promise.all([...ids, ...ids].map((id, i) => release(conns[i % conns.length]!, [k.lease], [ref(k.quotas, 'u:a')], id, T0)));
    expect(released.reduce((x, y) => x + y, 0)).toBe(CAP);
    expect(await redis.hget(k.quotas, 'u:a')).toBe('0');
    expect(await redis.zcard(k.lease)).toBe(0);
  });
});
