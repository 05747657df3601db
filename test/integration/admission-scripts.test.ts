import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { quotaFields, RING_MAX_CALLS } from '../../core/admission/levels.js';
import { newId } from '../../core/ids.js';
import { admissionFields as F, redisKeys } from '../../core/redis-keys.js';
import { createRedis, type Redis } from '../../platform/redis/client.js';
import { acquire, acquireManyPrepared, prepareAcquire, registerScripts, release, renew, type AcquireResult, type QuotaRef, type ScriptLevel } from '../../platform/redis/commands.js';
import { bucket, countedWindow, KEY, leaseLevel, org, quota, ring, T0, TIER, TTL, USER } from '../support/script-levels.js';

/**
 * The admission scripts against a real Redis, each claim of their header comments checked
 * with exact numbers. Every script call takes an explicit clock (`nowMs`), so nothing here
 * depends on real time: refills, window slides, lease expiries and housekeeping happen by
 * moving `now`. Every test works on keys of a fresh organization hash tag, so tests never
 * share state.
 *
 * Tests check behaviour first (what is admitted, refused, with which hint). Where they look
 * at storage, they go through the readers just below, which alone know the layout (see
 * admission-acquire.lua): one admission hash per organization (buckets packed '<dd', burst
 * rings of packed doubles, counted rings for large bursts, concurrency counters, one lease
 * record per call, the housekeeping due time `n`), one quota hash per period.
 */
let redis: Redis;

beforeAll(() => {
  redis = registerScripts(createRedis(inject('redisUrl')));
});

afterAll(async () => {
  await redis?.quit();
});

// ---- Storage readers: the only code here that knows the layout. ----

/** A token bucket: tokens left and the time of its last update; null when absent (a full bucket). */
async function bucketOf(hash: string, field: string): Promise<{ tokens: number; at: number } | null> {
  const v = await redis.hgetBuffer(hash, field);
  if (v === null) return null;
  expect(v.length, `bucket ${field}`).toBe(16);
  return { tokens: v.readDoubleLE(0), at: v.readDoubleLE(8) };
}

/** The call times a burst ring holds, oldest first; null when absent (an empty window). */
async function ringOf(hash: string, field: string): Promise<number[] | null> {
  const v = await redis.hgetBuffer(hash, field);
  if (v === null) return null;
  expect(v.length % 8, `ring ${field}`).toBe(0);
  return Array.from({ length: v.length / 8 }, (_, i) => v.readDoubleLE(i * 8));
}

/**
 * A counted ring: the calls it counts, and its slots (calls, time logged), oldest first;
 * null when absent (an empty window).
 */
async function countedRingOf(hash: string, field: string): Promise<{ count: number; slots: Array<[number, number]> } | null> {
  const v = await redis.hgetBuffer(hash, field);
  if (v === null) return null;
  expect((v.length - 8) % 16, `counted ring ${field}`).toBe(0);
  const slots = Array.from({ length: (v.length - 8) / 16 }, (_, i): [number, number] => [v.readDoubleLE(8 + i * 16), v.readDoubleLE(16 + i * 16)]);
  return { count: v.readDoubleLE(0), slots };
}

/** The call times a counted ring logs, oldest first (a slot's calls at its time); [] when absent. */
async function countedCallsOf(hash: string, field: string): Promise<number[]> {
  const ring = await countedRingOf(hash, field);
  if (ring === null) return [];
  const times = ring.slots.flatMap(([calls, at]) => Array.from({ length: calls }, () => at));
  // The count ahead of the slots is theirs.
  expect(times).toHaveLength(ring.count);
  return times;
}

/** A concurrency counter: how many live (or not yet housekept) leases name it; null when absent. */
async function counterOf(hash: string, field: string): Promise<number | null> {
  const v = await redis.hget(hash, field);
  return v === null ? null : Number(v);
}

/** A call's lease record: its expiry and the counters it holds; null when absent. */
async function leaseOf(hash: string, id: string): Promise<{ expiry: number; counters: string[] } | null> {
  const v = await redis.hget(hash, `l:${id}`);
  if (v === null) return null;
  const [expiry, ...counters] = v.split('|');
  return { expiry: Number(expiry), counters };
}

/** The ids of every lease record in the hash, sorted. */
async function leaseIdsOf(hash: string): Promise<string[]> {
  return (await redis.hkeys(hash))
    .filter((f) => f.startsWith('l:'))
    .map((f) => f.slice(2))
    .sort();
}

/** When housekeeping is due next (ms); null when never run. */
async function housekeepingDueOf(hash: string): Promise<number | null> {
  const v = await redis.hget(hash, 'n');
  return v === null ? null : Number(v);
}

/** Every field of a hash, values as hex: to compare states byte for byte. */
async function dump(hash: string): Promise<Record<string, string>> {
  return Object.fromEntries(Object.entries(await redis.hgetallBuffer(hash)).map(([f, v]) => [f, v.toString('hex')]));
}

// ---- Levels and calls. ----

/** Housekeeping looks at least a minute back (commands.ts). */
const MIN_HORIZON = 60_000;
const DAY = 'd:2026-01-01';

let leaseSeq = 0;
const leaseId = () => `lease-${++leaseSeq}-${Math.random().toString(36).slice(2, 8)}`;

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
  const FIELD = F.keyRate(KEY, TIER);

  it('admits exactly its capacity at one instant, then refuses with the time to one token', async () => {
    const { hash } = org();
    const levels = [bucket(hash, FIELD, N, PERIOD)];
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
    expect(await bucketOf(hash, FIELD)).toEqual({ tokens: 0, at: T0 });
  });

  it('keeps fractions of a token: half a token after 6 s, a whole one (admitted) after 12 s', async () => {
    const { hash } = org();
    const levels = [bucket(hash, FIELD, N, PERIOD)];
    expect(admittedCount(await calls(levels, N - 1, T0))).toBe(N - 1);
    // 1 token left, + 0.5 after 6 s: admitted, 0.5 left.
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 6_000)).toMatchObject({ admitted: true, remaining: 0 });
    expect(await bucketOf(hash, FIELD)).toEqual({ tokens: 0.5, at: T0 + 6_000 });
    // 0.5 + 0.25 after 3 s: refused, 3 s to go.
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 9_000)).toMatchObject({ admitted: false, retryAfterMs: 3_000 });
    expect(await bucketOf(hash, FIELD)).toEqual({ tokens: 0.5, at: T0 + 6_000 });
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 12_000)).admitted).toBe(true);
    expect(await bucketOf(hash, FIELD)).toEqual({ tokens: 0, at: T0 + 12_000 });
  });

  it('refills at capacity per period: the retry hint shrinks with the clock, a token appears exactly on time', async () => {
    const { hash } = org();
    const levels = [bucket(hash, FIELD, N, PERIOD)];
    expect(admittedCount(await calls(levels, N, T0))).toBe(N);
    expect(await bucketOf(hash, FIELD)).toEqual({ tokens: 0, at: T0 });

    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 6_000)).retryAfterMs).toBe(6_000);
    const almost = await acquire(redis, levels, leaseId(), TTL, T0 + 11_999);
    expect(almost.admitted).toBe(false);
    expect(almost.retryAfterMs).toBe(1);
    // Refusals charge nothing: the stored state is still the one of the last admission.
    expect(await bucketOf(hash, FIELD)).toEqual({ tokens: 0, at: T0 });

    const onTime = await acquire(redis, levels, leaseId(), TTL, T0 + 12_000);
    expect(onTime.admitted).toBe(true);
    expect(onTime.remaining).toBe(0);
    expect(await bucketOf(hash, FIELD)).toEqual({ tokens: 0, at: T0 + 12_000 });
    const next = await acquire(redis, levels, leaseId(), TTL, T0 + 12_000);
    expect(next).toMatchObject({ admitted: false, retryAfterMs: 12_000 });
  });

  it('is full again one period after it emptied, and never holds more than its capacity', async () => {
    const levels = [bucket(org().hash, FIELD, N, PERIOD)];
    expect(admittedCount(await calls(levels, N, T0))).toBe(N);
    expect(admittedCount(await calls(levels, N + 1, T0 + PERIOD))).toBe(N);
    // Idle for ten periods: still only N at once.
    expect(admittedCount(await calls(levels, N + 3, T0 + 11 * PERIOD))).toBe(N);
  });

  it('buckets of one hash are independent: each field counts for itself', async () => {
    const { hash } = org();
    const [key, user] = [F.keyRate(KEY, TIER), F.userRate(USER, TIER)];
    expect(admittedCount(await calls([bucket(hash, key, 2, PERIOD)], 3, T0))).toBe(2);
    expect(admittedCount(await calls([bucket(hash, user, 3, PERIOD)], 4, T0))).toBe(3);
    expect(await bucketOf(hash, key)).toEqual({ tokens: 0, at: T0 });
    expect(await bucketOf(hash, user)).toEqual({ tokens: 0, at: T0 });
  });

  it('a zero capacity refuses everything with the period as the hint', async () => {
    const r = await acquire(redis, [bucket(org().hash, FIELD, 0, PERIOD)], leaseId(), TTL, T0);
    expect(r).toMatchObject({ admitted: false, refusingLevel: 0, limit: 0, remaining: 0, retryAfterMs: PERIOD });
  });
});

/**
 * The two ways of keeping a burst window, both in the admission hash: a ring of call times,
 * a counted ring (calls per hundredth of the window: here 10 ms, and the tests' times are on
 * slot ends, so both log the same times).
 */
const WINDOWS = [
  {
    name: 'ring (a field of the admission hash)',
    make: (o: ReturnType<typeof org>, limit: number, windowMs: number) => ({
      level: ring(o.hash, F.userBurst(USER, TIER, windowMs), limit, windowMs),
      stored: async () => (await ringOf(o.hash, F.userBurst(USER, TIER, windowMs))) ?? [],
    }),
  },
  {
    name: 'counted ring (a field of the admission hash)',
    make: (o: ReturnType<typeof org>, limit: number, windowMs: number) => ({
      level: countedWindow(o.hash, F.userCountedBurst(USER, TIER, windowMs), limit, windowMs),
      stored: () => countedCallsOf(o.hash, F.userCountedBurst(USER, TIER, windowMs)),
    }),
  },
] as const;

describe.each(WINDOWS)('sliding window: $name', ({ make }) => {
  const M = 3;
  const W = 1_000;

  it('refuses the (M+1)th call inside the window until the oldest call leaves it', async () => {
    const { level, stored } = make(org(), M, W);
    const levels = [level];
    const admitted = [await acquire(redis, levels, leaseId(), TTL, T0), await acquire(redis, levels, leaseId(), TTL, T0 + 100), await acquire(redis, levels, leaseId(), TTL, T0 + 200)];
    expect(admitted.map((r) => [r.admitted, r.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
    ]);

    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 300)).toEqual({ admitted: false, refusingLevel: 0, limit: M, remaining: 0, retryAfterMs: 700, overQuota: [] });
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 999)).retryAfterMs).toBe(1);
    // Refused calls are not logged in the window.
    expect(await stored()).toEqual([T0, T0 + 100, T0 + 200]);

    // Exactly W after the oldest call, it has left the window.
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + W)).admitted).toBe(true);
    // Now the oldest is the call at T0 + 100.
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + W)).toMatchObject({ admitted: false, retryAfterMs: 100 });
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + W + 100)).admitted).toBe(true);
    // Only calls inside the window are kept.
    expect(await stored()).toEqual([T0 + 200, T0 + W, T0 + W + 100]);
  });

  it('M calls at one instant: the next waits the whole window, and exactly W later M are admitted again', async () => {
    const { level, stored } = make(org(), M, W);
    const levels = [level];
    expect(admittedCount(await calls(levels, M, T0))).toBe(M);
    expect(await acquire(redis, levels, leaseId(), TTL, T0)).toMatchObject({ admitted: false, retryAfterMs: W });
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + W - 1)).toMatchObject({ admitted: false, retryAfterMs: 1 });
    expect(admittedCount(await calls(levels, M + 1, T0 + W))).toBe(M);
    expect(await stored()).toEqual([T0 + W, T0 + W, T0 + W]);
  });

  it('a zero limit refuses everything with the window as the hint', async () => {
    const { level, stored } = make(org(), 0, W);
    expect(await acquire(redis, [level], leaseId(), TTL, T0)).toMatchObject({ admitted: false, refusingLevel: 0, limit: 0, remaining: 0, retryAfterMs: W });
    expect(await stored()).toEqual([]);
  });
});

describe('sliding window: ring', () => {
  const W = 1_000;
  const FIELD = F.userBurst(USER, TIER, W);

  it(`holds RING_MAX_CALLS (${RING_MAX_CALLS}) calls: exactly that many at one instant, the next waits the window`, async () => {
    const { hash } = org();
    const levels = [ring(hash, FIELD, RING_MAX_CALLS, W)];
    expect(admittedCount(await calls(levels, RING_MAX_CALLS + 1, T0))).toBe(RING_MAX_CALLS);
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 400)).toMatchObject({ admitted: false, remaining: 0, retryAfterMs: 600 });
    expect(await ringOf(hash, FIELD)).toEqual(Array.from({ length: RING_MAX_CALLS }, () => T0));
    expect(admittedCount(await calls(levels, RING_MAX_CALLS + 1, T0 + W))).toBe(RING_MAX_CALLS);
  });

  it('a limit lowered below the calls in the window waits for as many to leave as needed', async () => {
    const { hash } = org();
    for (const at of [T0, T0 + 100, T0 + 200]) expect((await acquire(redis, [ring(hash, FIELD, 3, W)], leaseId(), TTL, at)).admitted).toBe(true);
    // Limit 2 with three calls inside: two must leave; the second leaves at T0 + 100 + W.
    expect(await acquire(redis, [ring(hash, FIELD, 2, W)], leaseId(), TTL, T0 + 300)).toMatchObject({ admitted: false, limit: 2, remaining: 0, retryAfterMs: 800 });
    expect((await acquire(redis, [ring(hash, FIELD, 2, W)], leaseId(), TTL, T0 + 100 + W - 1)).admitted).toBe(false);
    expect((await acquire(redis, [ring(hash, FIELD, 2, W)], leaseId(), TTL, T0 + 100 + W)).admitted).toBe(true);
    expect(await ringOf(hash, FIELD)).toEqual([T0 + 200, T0 + 100 + W]);
  });
});

describe('sliding window: counted ring', () => {
  const W = 1_000;
  const SLOT = W / 100;
  const FIELD = F.userCountedBurst(USER, TIER, W);

  it(`keeps a burst larger than a ring (${RING_MAX_CALLS + 36} calls) as one slot per hundredth of the window: exactly the limit at one instant`, async () => {
    const { hash } = org();
    const LIMIT = RING_MAX_CALLS + 36;
    const rs = await calls([countedWindow(hash, FIELD, LIMIT, W)], LIMIT + 1, T0);
    expect(admittedCount(rs)).toBe(LIMIT);
    expect(rs[LIMIT]).toEqual({ admitted: false, refusingLevel: 0, limit: LIMIT, remaining: 0, retryAfterMs: W, overQuota: [] });
    expect(await countedRingOf(hash, FIELD)).toEqual({ count: LIMIT, slots: [[LIMIT, T0]] });
  });

  it('logs a call at the end of its slot: it leaves the window up to a hundredth of the window late, never early, and the hint says when', async () => {
    const { hash } = org();
    const levels = [countedWindow(hash, FIELD, 2, W)];
    for (const at of [T0 + 1, T0 + SLOT - 1]) expect((await acquire(redis, levels, leaseId(), TTL, at)).admitted).toBe(true);
    expect(await countedRingOf(hash, FIELD)).toEqual({ count: 2, slots: [[2, T0 + SLOT]] });
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 15)).toMatchObject({ admitted: false, remaining: 0, retryAfterMs: SLOT + W - 15 });
    // Exactly a window after the first call, a ring of call times would admit; this one waits for the slot's end.
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 1 + W)).toMatchObject({ admitted: false, retryAfterMs: SLOT - 1 });
    expect(admittedCount(await calls(levels, 3, T0 + SLOT + W))).toBe(2);
    expect(await countedRingOf(hash, FIELD)).toEqual({ count: 2, slots: [[2, T0 + SLOT + W]] });
  });

  it('stays small whatever the rate: a call every 3 ms for two windows keeps at most 101 slots, and counts the window exactly', async () => {
    const { hash } = org();
    const levels = [countedWindow(hash, FIELD, 10_000, W)];
    const times = Array.from({ length: 667 }, (_, i) => T0 + 3 * i);
    for (const at of times) expect((await acquire(redis, levels, leaseId(), TTL, at)).admitted).toBe(true);
    const now = times.at(-1)!;
    const ring = (await countedRingOf(hash, FIELD))!;
    expect(ring.slots.length).toBeLessThanOrEqual(101);
    // Every call still counted is one whose slot ends inside the window: none left early, none late.
    const slotEnd = (t: number) => Math.ceil(t / SLOT) * SLOT;
    expect(ring.count).toBe(times.filter((t) => slotEnd(t) > now - W).length);
    expect(ring.slots.every(([, at]) => at > now - W && at <= now + SLOT)).toBe(true);
  });

  it('a limit lowered below the calls in the window waits for as many to leave as needed, counted through the slots', async () => {
    const { hash } = org();
    expect(admittedCount(await calls([countedWindow(hash, FIELD, 4, W)], 2, T0))).toBe(2);
    for (const at of [T0 + 100, T0 + 200]) expect((await acquire(redis, [countedWindow(hash, FIELD, 4, W)], leaseId(), TTL, at)).admitted).toBe(true);
    // Limit 2 with four calls inside: the third oldest (logged at T0 + 100) must leave.
    expect(await acquire(redis, [countedWindow(hash, FIELD, 2, W)], leaseId(), TTL, T0 + 300)).toMatchObject({ admitted: false, limit: 2, remaining: 0, retryAfterMs: 800 });
    expect((await acquire(redis, [countedWindow(hash, FIELD, 2, W)], leaseId(), TTL, T0 + 100 + W - 1)).admitted).toBe(false);
    expect((await acquire(redis, [countedWindow(hash, FIELD, 2, W)], leaseId(), TTL, T0 + 100 + W)).admitted).toBe(true);
    expect(await countedRingOf(hash, FIELD)).toEqual({ count: 2, slots: [[1, T0 + 200], [1, T0 + 100 + W]] });
  });

  it('in one script call, a call refused by the calls admitted before it waits for their slot to end', async () => {
    const { hash } = org();
    const rs = await acquireManyPrepared(redis, prepareAcquire([countedWindow(hash, FIELD, 2, W)], TTL), [leaseId(), leaseId(), leaseId()], T0 + 3);
    expect(rs.map((r) => r.admitted)).toEqual([true, true, false]);
    expect(rs[2]).toMatchObject({ retryAfterMs: SLOT + W - 3 });
    expect(await countedRingOf(hash, FIELD)).toEqual({ count: 2, slots: [[2, T0 + SLOT]] });
  });

  it('a clock that steps back logs its calls in the last slot (later: cautious, never over)', async () => {
    const { hash } = org();
    const levels = [countedWindow(hash, FIELD, 5, W)];
    for (const at of [T0 + 500, T0 + 200]) expect((await acquire(redis, levels, leaseId(), TTL, at)).admitted).toBe(true);
    expect(await countedRingOf(hash, FIELD)).toEqual({ count: 2, slots: [[2, T0 + 500]] });
  });

  it('next to the other levels of the admission hash: each is charged in its own field', async () => {
    const o = org();
    const levels = [bucket(o.hash, F.keyRate(KEY, TIER), 10, 60_000), countedWindow(o.hash, FIELD, 2, W), leaseLevel(o.hash, F.userConcurrency(USER), 5)];
    const [a, b] = [leaseId(), leaseId()];
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, b, TTL, T0)).admitted).toBe(true);
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + 20)).toMatchObject({ admitted: false, refusingLevel: 1, limit: 2, remaining: 0, retryAfterMs: 980 });
    expect(await countedRingOf(o.hash, FIELD)).toEqual({ count: 2, slots: [[2, T0]] });
    expect(await bucketOf(o.hash, F.keyRate(KEY, TIER))).toEqual({ tokens: 8, at: T0 });
    expect(await counterOf(o.hash, F.userConcurrency(USER))).toBe(2);
    expect(await leaseIdsOf(o.hash)).toEqual([a, b].sort());
  });
});

describe('concurrency leases', () => {
  const C = 2;
  const FIELD = F.userConcurrency(USER);

  it('admits C concurrent calls and refuses the next with a one second hint', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    const ids = [leaseId(), leaseId()];
    const rs = [await acquire(redis, levels, ids[0]!, TTL, T0), await acquire(redis, levels, ids[1]!, TTL, T0)];
    expect(rs.map((r) => [r.admitted, r.remaining])).toEqual([
      [true, 1],
      [true, 0],
    ]);
    const refusedId = leaseId();
    expect(await acquire(redis, levels, refusedId, TTL, T0)).toEqual({ admitted: false, refusingLevel: 0, limit: C, remaining: 0, retryAfterMs: 1_000, overQuota: [] });
    expect(await counterOf(hash, FIELD)).toBe(C);
    expect(await leaseIdsOf(hash)).toEqual([...ids].sort());
    for (const id of ids) expect(await leaseOf(hash, id)).toEqual({ expiry: T0 + TTL, counters: [FIELD] });
    expect(await leaseOf(hash, refusedId)).toBeNull();
  });

  it('an unreleased lease expires after its TTL and frees its slot', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    expect(admittedCount(await calls(levels, C, T0))).toBe(C);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + TTL - 1)).admitted).toBe(false);
    const later = [leaseId(), leaseId(), leaseId()];
    const rs = [];
    for (const id of later) rs.push(await acquire(redis, levels, id, TTL, T0 + TTL));
    expect(rs.map((r) => r.admitted)).toEqual([true, true, false]);
    // The expired leases are gone, and not counted: the counter holds the new ones only.
    expect(await leaseIdsOf(hash)).toEqual(later.slice(0, C).sort());
    expect(await counterOf(hash, FIELD)).toBe(C);
  });

  it('release frees the slot at once', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    const first = leaseId();
    expect((await acquire(redis, levels, first, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(true);
    expect(await release(redis, [hash], [], first, T0)).toBe(1);
    expect(await leaseOf(hash, first)).toBeNull();
    expect(await counterOf(hash, FIELD)).toBe(1);
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(false);
  });

  it('renew extends a lease past its original TTL; an expired, reclaimed lease cannot be renewed', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    const [a, b] = [leaseId(), leaseId()];
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, b, TTL, T0)).admitted).toBe(true);

    expect(await renew(redis, [hash], a, TTL, T0 + 20_000)).toBe(1);
    expect(await leaseOf(hash, a)).toEqual({ expiry: T0 + 20_000 + TTL, counters: [FIELD] });

    // At the original expiry b is gone, a is not: one slot frees, not two.
    expect(admittedCount(await calls(levels, C, T0 + TTL))).toBe(1);
    expect(await leaseOf(hash, a)).not.toBeNull();
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 20_000 + TTL - 1)).admitted).toBe(false);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 20_000 + TTL)).admitted).toBe(true);

    // b expired and its slot went to another call: renewing it reports the loss and
    // does not bring it back.
    expect(await renew(redis, [hash], b, TTL, T0 + TTL + 1)).toBe(0);
    expect(await leaseOf(hash, b)).toBeNull();
    expect(await counterOf(hash, FIELD)).toBe(C);
  });

  it('renew of a lease past its TTL returns 0 even before another call reclaimed the slot', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    const a = leaseId();
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    // No call came by since the expiry; the lease is expired all the same: not revived.
    expect(await renew(redis, [hash], a, TTL, T0 + TTL + 1)).toBe(0);
    expect(await leaseOf(hash, a)).toEqual({ expiry: T0 + TTL, counters: [FIELD] });
    // And its slot is free: the cap is available in full (housekeeping drops the record).
    expect(admittedCount(await calls(levels, C + 1, T0 + TTL + 1))).toBe(C);
    expect(await leaseOf(hash, a)).toBeNull();
    expect(await counterOf(hash, FIELD)).toBe(C);
  });

  it('one lease record holds every concurrency level of the call (user and organization); renew extends them all', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, 1), leaseLevel(hash, F.orgConcurrency, 5)];
    const a = leaseId();
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect(await leaseOf(hash, a)).toEqual({ expiry: T0 + TTL, counters: [FIELD, F.orgConcurrency] });
    expect(await renew(redis, [hash], a, TTL, T0 + 10_000)).toBe(1);
    expect(await leaseOf(hash, a)).toEqual({ expiry: T0 + 10_000 + TTL, counters: [FIELD, F.orgConcurrency] });
    // Past the original expiry, both slots are still held.
    expect(await acquire(redis, levels, leaseId(), TTL, T0 + TTL)).toMatchObject({ admitted: false, refusingLevel: 0 });
    expect(await acquire(redis, [leaseLevel(hash, F.orgConcurrency, 1)], leaseId(), TTL, T0 + TTL)).toMatchObject({ admitted: false, refusingLevel: 0 });

    expect(await renew(redis, [hash], 'no-such-lease', TTL, T0 + 10_000)).toBe(0);
    expect(await leaseOf(hash, 'no-such-lease')).toBeNull();

    expect(await release(redis, [hash], [], a, T0 + TTL + 1)).toBe(1);
    expect([await counterOf(hash, FIELD), await counterOf(hash, F.orgConcurrency)]).toEqual([0, 0]);
  });

  it('the same lease id acquired again while its lease is live is not counted twice', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    const a = leaseId();
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, a, TTL, T0 + 1_000)).admitted).toBe(true);
    expect(await counterOf(hash, FIELD)).toBe(1);
    expect(await leaseIdsOf(hash)).toEqual([a]);
    // The record is the retry's: it expires a TTL after it.
    expect(await leaseOf(hash, a)).toEqual({ expiry: T0 + 1_000 + TTL, counters: [FIELD] });
    // So one slot is left, not none.
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 1_000)).admitted).toBe(true);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 1_000)).admitted).toBe(false);
    expect(await counterOf(hash, FIELD)).toBe(C);
    // One release gives the one slot back.
    expect(await release(redis, [hash], [], a, T0 + 2_000)).toBe(1);
    expect(await release(redis, [hash], [], a, T0 + 2_000)).toBe(0);
    expect(await counterOf(hash, FIELD)).toBe(1);
  });

  it('once its lease expired, the same lease id is a new call: counted again', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    const a = leaseId();
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 10_000)).admitted).toBe(true);
    expect((await acquire(redis, levels, a, TTL, T0 + TTL)).admitted).toBe(true);
    expect(await counterOf(hash, FIELD)).toBe(2);
    expect(await leaseOf(hash, a)).toEqual({ expiry: T0 + 2 * TTL, counters: [FIELD] });
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + TTL)).admitted).toBe(false);
  });
  it('a retry of a call holding its lease is admitted at the cap: it takes no new slot', async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    const a = leaseId();
    expect(admittedCount([await acquire(redis, levels, a, TTL, T0), await acquire(redis, levels, leaseId(), TTL, T0)])).toBe(C);
    // At the cap: a new call is refused, the retry of a running one joins it.
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 1)).admitted).toBe(false);
    expect((await acquire(redis, levels, a, TTL, T0 + 1)).admitted).toBe(true);
    expect(await counterOf(hash, FIELD)).toBe(C);
  });
});

describe('housekeeping', () => {
  const C = 2;
  const FIELD = F.userConcurrency(USER);

  it('a burst ring longer than the horizon survives housekeeping by a call of another kind, and the hash outlives it', async () => {
    const { hash } = org();
    const WINDOW = 10 * 60_000;
    const ringField = F.userBurst(USER, TIER, WINDOW);
    const longRing = [ring(hash, ringField, 3, WINDOW)];
    // A cheap method's level only (a one-minute horizon), as tools/list passes.
    const cheap = [bucket(hash, F.otherMethodsRate(KEY, TIER), 100, 60_000)];
    expect(admittedCount(await calls(longRing, 3, T0))).toBe(3);
    expect(await redis.pttl(hash)).toBeGreaterThan(2 * WINDOW);
    // Two minutes later the cheap call housekeeps with its one-minute horizon: the ring is
    // idle for longer than that, but its calls are still inside its window.
    expect((await acquire(redis, cheap, leaseId(), TTL, T0 + 120_000)).admitted).toBe(true);
    expect(await ringOf(hash, ringField)).toEqual([T0, T0, T0]);
    expect((await acquire(redis, longRing, leaseId(), TTL, T0 + 120_000)).admitted).toBe(false);
    // Once the window has passed, the next housekeeping drops it.
    expect((await acquire(redis, cheap, leaseId(), TTL, T0 + WINDOW + 60_000)).admitted).toBe(true);
    expect(await ringOf(hash, ringField)).toBeNull();
  });

  it("an expired lease's slot comes back at its expiry exactly, and its counter goes back down", async () => {
    const { hash } = org();
    const levels = [leaseLevel(hash, FIELD, C)];
    const [a, b] = [leaseId(), leaseId()];
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, b, TTL, T0 + 5_000)).admitted).toBe(true);
    expect(await counterOf(hash, FIELD)).toBe(2);

    const other = [bucket(hash, F.keyRate(KEY, TIER), 100, 60_000)];
    // A millisecond before a's expiry, nothing has expired.
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + TTL - 1)).admitted).toBe(false);
    expect((await acquire(redis, other, leaseId(), TTL, T0 + TTL - 1)).admitted).toBe(true);
    expect(await counterOf(hash, FIELD)).toBe(2);
    expect(await leaseIdsOf(hash)).toEqual([a, b].sort());

    // At a's expiry, any call (here one that holds no lease) finds the counter down by one.
    expect((await acquire(redis, other, leaseId(), TTL, T0 + TTL)).admitted).toBe(true);
    expect(await counterOf(hash, FIELD)).toBe(1);
    expect(await leaseIdsOf(hash)).toEqual([b]);
    const c = leaseId();
    expect((await acquire(redis, levels, c, TTL, T0 + TTL)).admitted).toBe(true);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 5_000 + TTL - 1)).admitted).toBe(false);

    // At b's expiry, b's slot comes back.
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + 5_000 + TTL)).admitted).toBe(true);
    expect(await counterOf(hash, FIELD)).toBe(2);
    expect(await leaseOf(hash, b)).toBeNull();
    expect(await leaseOf(hash, c)).toEqual({ expiry: T0 + 2 * TTL, counters: [FIELD] });
  });

  it('drops a counter that fell to 0 (by release or by expiry)', async () => {
    const { hash } = org();
    const [user, orgField] = [F.userConcurrency(USER), F.orgConcurrency];
    const a = leaseId();
    expect((await acquire(redis, [leaseLevel(hash, user, C)], a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, [leaseLevel(hash, orgField, C)], leaseId(), TTL, T0 + 1_000)).admitted).toBe(true);
    expect(await release(redis, [hash], [], a, T0 + 2_000)).toBe(1);
    // Released: 0 until the next housekeeping, due at the first expiry of a lease.
    expect(await counterOf(hash, user)).toBe(0);
    expect(await housekeepingDueOf(hash)).toBe(T0 + TTL);
    const other = [bucket(hash, F.keyRate(KEY, TIER), 100, 60_000)];
    expect((await acquire(redis, other, leaseId(), TTL, T0 + TTL)).admitted).toBe(true);
    expect(await counterOf(hash, user)).toBeNull();
    expect(await counterOf(hash, orgField)).toBe(1);
    // Expired: the organization's lease (acquired at T0 + 1 s) goes, and with it its counter.
    expect((await acquire(redis, other, leaseId(), TTL, T0 + 1_000 + TTL)).admitted).toBe(true);
    expect(await counterOf(hash, orgField)).toBeNull();
    expect(await leaseIdsOf(hash)).toEqual([]);
  });

  it('drops buckets and rings idle for the horizon (a full bucket and an empty window are the same as none), keeps the others', async () => {
    const { hash } = org();
    const W = 1_000;
    const [idleBucket, liveBucket, idleRing, liveRing] = [F.keyRate(KEY, TIER), F.userRate(USER, TIER), F.userBurst(USER, TIER, W), F.userBurst('usr_b', TIER, W)];
    const [idleCounted, liveCounted] = [F.userCountedBurst(USER, TIER, W), F.userCountedBurst('usr_b', TIER, W)];
    expect((await acquire(redis, [bucket(hash, idleBucket, 5, 60_000), ring(hash, idleRing, 3, W), countedWindow(hash, idleCounted, 100, W)], leaseId(), TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, [bucket(hash, liveBucket, 5, 60_000), ring(hash, liveRing, 3, W), countedWindow(hash, liveCounted, 100, W)], leaseId(), TTL, T0 + 1)).admitted).toBe(true);
    // Housekeeping ran with the hash's first call: due a horizon (a minute) later.
    expect(await housekeepingDueOf(hash)).toBe(T0 + MIN_HORIZON);

    const other = [leaseLevel(hash, FIELD, C)];
    const l = leaseId();
    expect((await acquire(redis, other, l, TTL, T0 + MIN_HORIZON - 1)).admitted).toBe(true);
    expect(await bucketOf(hash, idleBucket)).toEqual({ tokens: 4, at: T0 });
    expect(await ringOf(hash, idleRing)).toEqual([T0]);
    expect(await countedRingOf(hash, idleCounted)).toEqual({ count: 1, slots: [[1, T0]] });

    expect(await release(redis, [hash], [], l, T0 + MIN_HORIZON)).toBe(1);
    expect((await acquire(redis, other, leaseId(), TTL, T0 + MIN_HORIZON)).admitted).toBe(true);
    expect(await bucketOf(hash, idleBucket)).toBeNull();
    expect(await ringOf(hash, idleRing)).toBeNull();
    expect(await bucketOf(hash, liveBucket)).toEqual({ tokens: 4, at: T0 + 1 });
    expect(await ringOf(hash, liveRing)).toEqual([T0 + 1]);
    expect(await countedRingOf(hash, idleCounted)).toBeNull();
    // A counted ring logs the call at its slot's end (T0 + 10 ms): not idle yet.
    expect(await countedRingOf(hash, liveCounted)).toEqual({ count: 1, slots: [[1, T0 + 10]] });
    // The dropped bucket starts full again, the dropped rings empty: as they would have been.
    const again = [bucket(hash, idleBucket, 5, 60_000), ring(hash, idleRing, 5, W), countedWindow(hash, idleCounted, 5, W)];
    expect(admittedCount(await calls(again, 6, T0 + MIN_HORIZON))).toBe(5);
  });

  it('the horizon is the longest bucket period or window of the call: a slow bucket is not reset after a minute', async () => {
    const { hash } = org();
    // 5 per 5 minutes: one token a minute. A lease makes housekeeping due at TTL.
    const FIVE_MINUTES = 300_000;
    const levels = [bucket(hash, F.keyRate(KEY, TIER), 5, FIVE_MINUTES), leaseLevel(hash, FIELD, 100)];
    expect(admittedCount(await calls(levels, 6, T0))).toBe(5);
    expect(await housekeepingDueOf(hash)).toBe(T0 + TTL);
    // A minute later: housekeeping runs, keeps the bucket (idle less than 5 minutes): one token.
    expect(admittedCount(await calls(levels, 3, T0 + 60_000))).toBe(1);
    expect(await bucketOf(hash, F.keyRate(KEY, TIER))).toEqual({ tokens: 0, at: T0 + 60_000 });
  });

  it('is due at the earliest lease expiry, at most a horizon after it last ran', async () => {
    const { hash } = org();
    const other = [bucket(hash, F.keyRate(KEY, TIER), 100, 60_000)];
    expect((await acquire(redis, other, leaseId(), TTL, T0)).admitted).toBe(true);
    expect(await housekeepingDueOf(hash)).toBe(T0 + MIN_HORIZON);
    expect((await acquire(redis, [leaseLevel(hash, FIELD, C)], leaseId(), 5_000, T0 + 1_000)).admitted).toBe(true);
    expect(await housekeepingDueOf(hash)).toBe(T0 + 6_000);
    // A later expiry does not move it.
    expect((await acquire(redis, [leaseLevel(hash, FIELD, C)], leaseId(), TTL, T0 + 2_000)).admitted).toBe(true);
    expect(await housekeepingDueOf(hash)).toBe(T0 + 6_000);
    // When it runs, the next due time is the next lease expiry.
    expect((await acquire(redis, other, leaseId(), TTL, T0 + 6_000)).admitted).toBe(true);
    expect(await housekeepingDueOf(hash)).toBe(T0 + 2_000 + TTL);
  });

  it('gives the hash an expiry of two horizons, a lease TTL and a second, and renews it when it runs', async () => {
    const { hash } = org();
    const levels = [bucket(hash, F.keyRate(KEY, TIER), 100, 60_000)];
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(true);
    const expected = 2 * MIN_HORIZON + TTL + 1_000;
    let pttl = await redis.pttl(hash);
    expect(pttl).toBeGreaterThan(expected - 10_000);
    expect(pttl).toBeLessThanOrEqual(expected);

    // Someone shortened it: the next housekeeping (a horizon later) sets it again, with a
    // longer horizon when the call has a longer bucket.
    await redis.pexpire(hash, 50_000);
    expect((await acquire(redis, levels, leaseId(), TTL, T0 + MIN_HORIZON - 1)).admitted).toBe(true);
    expect(await redis.pttl(hash)).toBeLessThanOrEqual(50_000);
    expect((await acquire(redis, [bucket(hash, F.keyRate(KEY, TIER), 100, 300_000)], leaseId(), TTL, T0 + MIN_HORIZON)).admitted).toBe(true);
    const longer = 2 * 300_000 + TTL + 1_000;
    pttl = await redis.pttl(hash);
    expect(pttl).toBeGreaterThan(longer - 10_000);
    expect(pttl).toBeLessThanOrEqual(longer);
  });
});

describe('quotas', () => {
  const DAY_TTL = 90_000_000;
  const RESET = 3_600_000;

  it("'block' refuses the (Q+1)th call with the time to the reset; the counter expires with its hash's TTL", async () => {
    const { hash, quotas: key } = org();
    const field = quotaFields.userDay(USER, DAY);
    const levels = [quota(key, field, 3, DAY_TTL, RESET, 'block')];
    const rs = await calls(levels, 3, T0);
    expect(rs.map((r) => [r.admitted, r.remaining, r.overQuota])).toEqual([
      [true, 2, []],
      [true, 1, []],
      [true, 0, []],
    ]);
    expect(await acquire(redis, levels, leaseId(), TTL, T0)).toEqual({ admitted: false, refusingLevel: 0, limit: 3, remaining: 0, retryAfterMs: RESET, overQuota: [] });
    expect(await redis.type(key)).toBe('hash');
    expect(await redis.hgetall(key)).toEqual({ [field]: '3' });
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(DAY_TTL - 10_000);
    expect(pttl).toBeLessThanOrEqual(DAY_TTL);
    // Quotas alone touch no admission hash.
    expect(await redis.exists(hash)).toBe(0);
  });

  it.each(['soft', 'overage'] as const)("'%s' admits past the limit, reports the level in overQuota, and keeps counting", async (policy) => {
    const { hash, quotas: key } = org();
    const levels = [bucket(hash, F.keyRate(KEY, TIER), 100, 60_000), quota(key, quotaFields.orgPeriod, 2, DAY_TTL, RESET, policy)];
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
    const { hash, quotas: key } = org();
    const levels = [
      bucket(hash, F.keyRate(KEY, TIER), 100, 60_000),
      quota(key, 'u:a:d:1', 1, DAY_TTL, RESET, 'soft'),
      quota(key, 'o:d:1', 5, DAY_TTL, RESET, 'soft'),
      quota(key, 'u:a', 1, DAY_TTL, RESET, 'overage'),
    ];
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).overQuota).toEqual([]);
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).overQuota).toEqual([1, 3]);
    expect(await redis.hgetall(key)).toEqual({ 'u:a:d:1': '2', 'o:d:1': '2', 'u:a': '2' });
  });

  it('counters are per field and per hash: fields of one hash count independently, and so do two hashes', async () => {
    const o = org();
    const [h1, h2] = [o.quotas, redisKeys.quotas(o.orgId, 'm:2026-02')];
    const levels = [quota(h1, 'a', 3, DAY_TTL, 1_000), quota(h1, 'b', 2, DAY_TTL, 2_000), quota(h1, 'c', 5, DAY_TTL, 3_000)];
    expect(admittedCount(await calls(levels, 2, T0))).toBe(2);
    expect(await redis.hgetall(h1)).toEqual({ a: '2', b: '2', c: '2' });
    // b is spent: its level refuses, and nothing is charged.
    expect(await acquire(redis, levels, leaseId(), TTL, T0)).toEqual({ admitted: false, refusingLevel: 1, limit: 2, remaining: 0, retryAfterMs: 2_000, overQuota: [] });
    expect(await redis.hgetall(h1)).toEqual({ a: '2', b: '2', c: '2' });
    // The same field name in another period's hash counts from zero; h1 is untouched by it.
    expect(admittedCount(await calls([quota(h2, 'b', 2, DAY_TTL, 2_000)], 3, T0))).toBe(2);
    expect(await redis.hgetall(h2)).toEqual({ b: '2' });
    // Another field of h1 alone is untouched by all this.
    expect((await acquire(redis, [quota(h1, 'd', 1, DAY_TTL, 1_000)], leaseId(), TTL, T0)).admitted).toBe(true);
    expect(await redis.hgetall(h1)).toEqual({ a: '2', b: '2', c: '2', d: '1' });
  });

  it("a new field sets the hash's TTL (the first call of a day in a period that already has counters)", async () => {
    const { quotas: key } = org();
    expect((await acquire(redis, [quota(key, 'u:a:d:1', 10, DAY_TTL, RESET)], leaseId(), TTL, T0)).admitted).toBe(true);
    // Someone shortened it (or it was set by an older period length): a new field sets it again.
    await redis.pexpire(key, 60_000);
    expect((await acquire(redis, [quota(key, 'u:a:d:1', 10, DAY_TTL, RESET)], leaseId(), TTL, T0)).admitted).toBe(true);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(60_000);
    expect((await acquire(redis, [quota(key, 'u:a:d:2', 10, DAY_TTL, RESET)], leaseId(), TTL, T0)).admitted).toBe(true);
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(DAY_TTL - 10_000);
    expect(pttl).toBeLessThanOrEqual(DAY_TTL);
    expect(await redis.hgetall(key)).toEqual({ 'u:a:d:1': '2', 'u:a:d:2': '1' });
  });

  it('housekeeping of the admission hash never touches the quota hash', async () => {
    const { hash, quotas: key } = org();
    const levels = [leaseLevel(hash, F.userConcurrency(USER), 10), quota(key, 'u:a', 100, DAY_TTL, RESET)];
    expect((await acquire(redis, levels, leaseId(), TTL, T0)).admitted).toBe(true);
    // Due at the lease's expiry, and at a minute, and at two.
    for (const at of [T0 + TTL, T0 + 2 * MIN_HORIZON, T0 + 4 * MIN_HORIZON]) expect((await acquire(redis, levels, leaseId(), TTL, at)).admitted).toBe(true);
    expect(await redis.hgetall(key)).toEqual({ 'u:a': '4' });
    expect(await redis.pttl(key)).toBeGreaterThan(DAY_TTL - 10_000);
  });
});

describe('all or nothing', () => {
  const W = 1_000;

  it('when the last level refuses, no earlier level is charged', async () => {
    const o = org();
    const f = { bucket: F.keyRate(KEY, TIER), ring: F.userBurst(USER, TIER, W), counted: F.userCountedBurst(USER, TIER, 2 * W), lease: F.userConcurrency(USER) };
    // The two quotas are fields of one hash, as in a real call; the last one is the gate.
    const levels = [
      bucket(o.hash, f.bucket, 10, 60_000),
      ring(o.hash, f.ring, 10, W),
      countedWindow(o.hash, f.counted, 100, 2 * W),
      leaseLevel(o.hash, f.lease, 10),
      quota(o.quotas, 'q', 10, 90_000_000, 1_000, 'block'),
      quota(o.quotas, 'gate', 1, 90_000_000, 5_000, 'block'),
    ];
    const first = leaseId();
    expect((await acquire(redis, levels, first, TTL, T0)).admitted).toBe(true);
    expect(await bucketOf(o.hash, f.bucket)).toEqual({ tokens: 9, at: T0 });
    expect(await ringOf(o.hash, f.ring)).toEqual([T0]);
    expect(await countedRingOf(o.hash, f.counted)).toEqual({ count: 1, slots: [[1, T0]] });
    expect(await counterOf(o.hash, f.lease)).toBe(1);
    expect(await leaseOf(o.hash, first)).toEqual({ expiry: T0 + TTL, counters: [f.lease] });
    expect(await redis.hgetall(o.quotas)).toEqual({ q: '1', gate: '1' });

    const snapshot = async () => ({ hash: await dump(o.hash), quotas: await redis.hgetall(o.quotas) });
    const before = await snapshot();
    for (const now of [T0, T0 + 500]) {
      const second = leaseId();
      expect(await acquire(redis, levels, second, TTL, now)).toEqual({ admitted: false, refusingLevel: 5, limit: 1, remaining: 0, retryAfterMs: 5_000, overQuota: [] });
      expect(await snapshot()).toEqual(before);
    }
  });

  it('when a lease level refuses, the rates before it and the quota after it are untouched', async () => {
    const o = org();
    const f = { bucket: F.keyRate(KEY, TIER), ring: F.userBurst(USER, TIER, W), lease: F.userConcurrency(USER) };
    const levels = [bucket(o.hash, f.bucket, 10, 60_000), ring(o.hash, f.ring, 10, W), leaseLevel(o.hash, f.lease, 1), quota(o.quotas, 'q', 10, 90_000_000, 1_000, 'block')];
    // The only slot is held by a call of another path (the lease level alone).
    const holder = leaseId();
    expect((await acquire(redis, [leaseLevel(o.hash, f.lease, 1)], holder, TTL, T0)).admitted).toBe(true);
    const r = await acquire(redis, levels, leaseId(), TTL, T0);
    expect(r).toEqual({ admitted: false, refusingLevel: 2, limit: 1, remaining: 0, retryAfterMs: 1_000, overQuota: [] });
    expect(await bucketOf(o.hash, f.bucket)).toBeNull();
    expect(await ringOf(o.hash, f.ring)).toBeNull();
    expect(await redis.exists(o.quotas)).toBe(0);
    expect(await counterOf(o.hash, f.lease)).toBe(1);
    expect(await leaseIdsOf(o.hash)).toEqual([holder]);
  });

  it('a soft quota past its limit is not reported (nor charged) when a later level refuses', async () => {
    const { quotas: key } = org();
    await redis.hset(key, 'soft', '5', 'gate', '1');
    const r = await acquire(redis, [quota(key, 'soft', 5, 90_000_000, 1_000, 'soft'), quota(key, 'gate', 1, 90_000_000, 2_000, 'block')], leaseId(), TTL, T0);
    expect(r).toEqual({ admitted: false, refusingLevel: 1, limit: 1, remaining: 0, retryAfterMs: 2_000, overQuota: [] });
    expect(await redis.hgetall(key)).toEqual({ soft: '5', gate: '1' });
    // Not even an expiry was written.
    expect(await redis.pttl(key)).toBe(-1);
  });

  it('reports the first refusing level in order, whichever kind it is', async () => {
    const o = org();
    const f = { bucket: F.keyRate(KEY, TIER), ring: F.userBurst(USER, TIER, W), lease: F.userConcurrency(USER) };
    await redis.hset(o.quotas, 'q', '2');
    expect((await acquire(redis, [leaseLevel(o.hash, f.lease, 1), ring(o.hash, f.ring, 1, W)], leaseId(), TTL, T0)).admitted).toBe(true);
    const exhaustedQuota = quota(o.quotas, 'q', 2, 90_000_000, 7_000, 'block');
    const fullLeases = leaseLevel(o.hash, f.lease, 1);
    const fullRing = ring(o.hash, f.ring, 1, W);
    const ok = bucket(o.hash, f.bucket, 10, 60_000);

    expect(await acquire(redis, [ok, exhaustedQuota], leaseId(), TTL, T0)).toMatchObject({ admitted: false, refusingLevel: 1, limit: 2, retryAfterMs: 7_000 });
    expect(await acquire(redis, [ok, fullLeases, exhaustedQuota], leaseId(), TTL, T0)).toMatchObject({ admitted: false, refusingLevel: 1, limit: 1, retryAfterMs: 1_000 });
    expect(await acquire(redis, [fullLeases, ok, exhaustedQuota], leaseId(), TTL, T0)).toMatchObject({ admitted: false, refusingLevel: 0, limit: 1, retryAfterMs: 1_000 });
    expect(await acquire(redis, [ok, fullRing, fullLeases, exhaustedQuota], leaseId(), TTL, T0 + 100)).toMatchObject({ admitted: false, refusingLevel: 1, limit: 1, retryAfterMs: 900 });
    expect(await acquire(redis, [ok, fullLeases, fullRing, exhaustedQuota], leaseId(), TTL, T0 + 100)).toMatchObject({ admitted: false, refusingLevel: 1, limit: 1, retryAfterMs: 1_000 });
    expect(await bucketOf(o.hash, f.bucket)).toBeNull();
    expect(await ringOf(o.hash, f.ring)).toEqual([T0]);
    expect(await redis.hgetall(o.quotas)).toEqual({ q: '2' });
    expect(await counterOf(o.hash, f.lease)).toBe(1);
  });
});

describe('levels acquire does not accept', () => {
  const W = 1_000;

  it('throws, and writes nothing, on a layout the script cannot take', async () => {
    const o = org();
    const elsewhere = `tg:{${o.orgId}}:elsewhere`;
    const ok = bucket(o.hash, F.keyRate(KEY, TIER), 10, 60_000);
    const q = quota(o.quotas, 'u:a', 10, 90_000_000, 1_000);
    const cases: Array<[ScriptLevel[], RegExp]> = [
      [[], /no levels/],
      [[ok, bucket(elsewhere, F.userRate(USER, TIER), 10, 60_000)], /bucket level outside the admission hash/],
      [[ok, ring(elsewhere, F.userBurst(USER, TIER, W), 3, W)], /window level outside the admission hash/],
      [[ok, leaseLevel(elsewhere, F.userConcurrency(USER), 3)], /lease level outside the admission hash/],
      [[ok, q, leaseLevel(o.hash, F.userConcurrency(USER), 3)], /a level after the quotas/],
      [[ok, q, quota(redisKeys.quotas(o.orgId, 'm:2026-02'), 'u:a', 10, 90_000_000, 1_000)], /quotas of two hashes/],
      [[ok, countedWindow(elsewhere, F.userCountedBurst(USER, TIER, W), 100, W)], /counted-window level outside the admission hash/],
    ];
    for (const [levels, error] of cases) await expect(acquire(redis, levels, leaseId(), TTL, T0), String(error)).rejects.toThrow(error);
    expect(await redis.exists(o.hash, o.quotas, elsewhere, redisKeys.quotas(o.orgId, 'm:2026-02'))).toBe(0);
  });
});

describe('release', () => {
  const FIELD = F.userConcurrency(USER);

  const setup = async () => {
    const o = org();
    const levels = [leaseLevel(o.hash, FIELD, 5), quota(o.quotas, 'u:a:d:1', 10, 90_000_000, 1_000), quota(o.quotas, 'u:a', 10, 90_000_000, 1_000)];
    const refunds = [ref(o.quotas, 'u:a:d:1'), ref(o.quotas, 'u:a')];
    const [a, b] = [leaseId(), leaseId()];
    expect((await acquire(redis, levels, a, TTL, T0)).admitted).toBe(true);
    expect((await acquire(redis, levels, b, TTL, T0)).admitted).toBe(true);
    const counters = () => redis.hmget(o.quotas, 'u:a:d:1', 'u:a');
    expect(await counters()).toEqual(['2', '2']);
    expect(await counterOf(o.hash, FIELD)).toBe(2);
    return { o, hash: o.hash, levels, refunds, counters, a, b };
  };

  it('with refunds, drops the lease and gives the quota units back', async () => {
    const { hash, refunds, counters, a, b } = await setup();
    expect(await release(redis, [hash], refunds, a, T0)).toBe(1);
    expect(await counters()).toEqual(['1', '1']);
    expect(await leaseOf(hash, a)).toBeNull();
    expect(await leaseIdsOf(hash)).toEqual([b]);
    expect(await counterOf(hash, FIELD)).toBe(1);
  });

  it('refunds exactly the counters listed, nothing else of the hash', async () => {
    const { o, hash, refunds, counters, a } = await setup();
    expect(await release(redis, [hash], refunds.slice(0, 1), a, T0)).toBe(1);
    expect(await counters()).toEqual(['1', '2']);
    expect(await redis.hlen(o.quotas)).toBe(2);
  });

  it('without refunds, drops the lease and keeps the charge', async () => {
    const { hash, counters, a, b } = await setup();
    expect(await release(redis, [hash], [], a, T0)).toBe(1);
    expect(await counters()).toEqual(['2', '2']);
    expect(await leaseIdsOf(hash)).toEqual([b]);
    expect(await counterOf(hash, FIELD)).toBe(1);
  });

  it('releasing the same call twice is harmless: no second refund, no other lease dropped', async () => {
    const { hash, refunds, counters, a, b } = await setup();
    expect(await release(redis, [hash], refunds, a, T0)).toBe(1);
    expect(await release(redis, [hash], refunds, a, T0)).toBe(0);
    // b's charge and b's lease stay.
    expect(await counters()).toEqual(['1', '1']);
    expect(await leaseOf(hash, b)).toEqual({ expiry: T0 + TTL, counters: [FIELD] });
    expect(await counterOf(hash, FIELD)).toBe(1);
  });

  it('a retried release with refunds, after one without, refunds nothing either', async () => {
    const { hash, refunds, counters, a } = await setup();
    expect(await release(redis, [hash], [], a, T0)).toBe(1);
    expect(await release(redis, [hash], refunds, a, T0)).toBe(0);
    expect(await counters()).toEqual(['2', '2']);
    expect(await counterOf(hash, FIELD)).toBe(1);
  });

  it('releasing twice without refunds changes nothing the second time', async () => {
    const { hash, counters, a } = await setup();
    expect(await release(redis, [hash], [], a, T0)).toBe(1);
    expect(await release(redis, [hash], [], a, T0)).toBe(0);
    expect(await counters()).toEqual(['2', '2']);
    expect(await counterOf(hash, FIELD)).toBe(1);
    expect(await leaseIdsOf(hash)).toHaveLength(1);
  });

  it('drops only its own lease: expired leases of other calls go with the next housekeeping', async () => {
    const { hash, levels, a, b } = await setup();
    const c = leaseId();
    expect((await acquire(redis, levels, c, TTL, T0 + 10_000)).admitted).toBe(true);
    // At T0 + TTL, a and b (acquired at T0) have expired; c has not. This call's
    // housekeeping drops a and b.
    const d = leaseId();
    expect((await acquire(redis, levels, d, TTL, T0 + TTL)).admitted).toBe(true);
    expect(await leaseIdsOf(hash)).toEqual([c, d].sort());
    expect(await counterOf(hash, FIELD)).toBe(2);
    expect(await release(redis, [hash], [], d, T0 + TTL)).toBe(1);
    expect(await leaseIdsOf(hash)).toEqual([c]);
    expect(await leaseOf(hash, c)).toEqual({ expiry: T0 + 10_000 + TTL, counters: [FIELD] });
    expect(await counterOf(hash, FIELD)).toBe(1);
    expect(await leaseOf(hash, a)).toBeNull();
    expect(await leaseOf(hash, b)).toBeNull();
  });

  it('a release after its own lease expired (not yet housekept) corrects the counter, returns 0 and refunds nothing', async () => {
    const { hash, refunds, counters, levels, a, b } = await setup();
    // Nothing housekept since: a's record is still there, expired since T0 + TTL.
    expect(await leaseOf(hash, a)).toEqual({ expiry: T0 + TTL, counters: [FIELD] });
    expect(await release(redis, [hash], refunds, a, T0 + TTL)).toBe(0);
    expect(await counters()).toEqual(['2', '2']);
    // Its record goes and the counter no longer counts it; b's record is not release's business.
    expect(await leaseOf(hash, a)).toBeNull();
    expect(await counterOf(hash, FIELD)).toBe(1);
    expect(await leaseIdsOf(hash)).toEqual([b]);
    expect(await release(redis, [hash], refunds, b, T0 + TTL + 1)).toBe(0);
    expect(await counters()).toEqual(['2', '2']);
    expect(await counterOf(hash, FIELD)).toBe(0);
    // And a later housekeeping finds nothing to take off twice: all 5 slots are free.
    expect(admittedCount(await calls(levels, 6, T0 + TTL + 2))).toBe(5);
    expect(await counterOf(hash, FIELD)).toBe(5);
  });

  it('a retry that joined a running call (no lease keys) gives back its own charge, and leaves the running call its lease', async () => {
    const { hash, refunds, counters, a } = await setup();
    expect(await release(redis, [], refunds, a, T0 + 1_000)).toBe(0);
    expect(await counters()).toEqual(['1', '1']);
    expect(await leaseOf(hash, a)).toEqual({ expiry: T0 + TTL, counters: [FIELD] });
    expect(await counterOf(hash, FIELD)).toBe(2);
    // The running call's own release still refunds its unit, once.
    expect(await release(redis, [hash], refunds, a, T0 + 2_000)).toBe(1);
    expect(await counters()).toEqual(['0', '0']);
    expect(await counterOf(hash, FIELD)).toBe(1);
  });

  it('refunds counters of several hashes in one call, next to a lease of several counters', async () => {
    const o = org();
    const [m1, m2] = [o.quotas, redisKeys.quotas(o.orgId, 'm:2026-02')];
    const [user, orgField] = [F.userConcurrency(USER), F.orgConcurrency];
    const levels = [leaseLevel(o.hash, user, 2), leaseLevel(o.hash, orgField, 5), quota(m1, 'u:a', 10, 90_000_000, 1_000), quota(m1, 'o', 10, 90_000_000, 1_000)];
    const [a, b] = [leaseId(), leaseId()];
    expect(admittedCount([await acquire(redis, levels, a, TTL, T0), await acquire(redis, levels, b, TTL, T0)])).toBe(2);
    // A counter of another hash (as the call of another period would have charged it).
    await redis.hset(m2, 'u:a', '2');
    expect(await release(redis, [o.hash], [ref(m1, 'u:a'), ref(m2, 'u:a'), ref(m1, 'o')], a, T0)).toBe(1);
    expect(await redis.hgetall(m1)).toEqual({ 'u:a': '1', o: '1' });
    expect(await redis.hgetall(m2)).toEqual({ 'u:a': '1' });
    expect(await leaseIdsOf(o.hash)).toEqual([b]);
    expect([await counterOf(o.hash, user), await counterOf(o.hash, orgField)]).toEqual([1, 1]);
  });

  it('a call without leases is refunded; a refund never takes a counter below zero, nor recreates a field or an expired hash', async () => {
    const o = org();
    const [quotas, expired] = [o.quotas, redisKeys.quotas(o.orgId, 'm:2025-12')];
    await redis.hset(quotas, 'used', '3', 'zero', '0');
    expect(await release(redis, [], [ref(quotas, 'used'), ref(quotas, 'zero'), ref(quotas, 'gone'), ref(expired, 'u:a')], leaseId(), T0)).toBe(0);
    expect(await redis.hgetall(quotas)).toEqual({ used: '2', zero: '0' });
    expect(await redis.exists(expired, o.hash)).toBe(0);
  });

  it('a release with nothing to release or refund does nothing', async () => {
    expect(await release(redis, [], [], leaseId(), T0)).toBe(0);
    expect(await renew(redis, [], leaseId(), TTL, T0)).toBe(0);
  });
});

describe('legacy leases (sorted sets of the layout before the admission hash)', () => {
  /** A run started before the layout change: its leases are members of `…:conc:…` sorted sets. */
  const setup = async () => {
    const o = org();
    const [userKey, orgKey] = [`tg:{${o.orgId}}:conc:user:${USER}`, `tg:{${o.orgId}}:conc:org`];
    const [a, b] = [leaseId(), leaseId()];
    for (const key of [userKey, orgKey]) await redis.zadd(key, T0 + TTL, a, T0 + TTL, b);
    await redis.hset(o.quotas, 'u:a', '2', 'o', '2');
    const refunds = [ref(o.quotas, 'u:a'), ref(o.quotas, 'o')];
    return { o, leaseKeys: [userKey, orgKey], userKey, orgKey, refunds, a, b };
  };

  it('release removes the lease from every set and refunds once', async () => {
    const { o, leaseKeys, userKey, orgKey, refunds, a, b } = await setup();
    expect(await release(redis, leaseKeys, refunds, a, T0 + 1_000)).toBe(2);
    expect(await redis.zrange(userKey, 0, -1)).toEqual([b]);
    expect(await redis.zrange(orgKey, 0, -1)).toEqual([b]);
    expect(await redis.hgetall(o.quotas)).toEqual({ 'u:a': '1', o: '1' });
    expect(await release(redis, leaseKeys, refunds, a, T0 + 1_000)).toBe(0);
    expect(await redis.hgetall(o.quotas)).toEqual({ 'u:a': '1', o: '1' });
    // The new layout's hash is not involved.
    expect(await redis.exists(o.hash)).toBe(0);
  });

  it('renew extends a live lease in every set; an expired one is not revived, nor refunded on release', async () => {
    const { o, leaseKeys, userKey, orgKey, refunds, a, b } = await setup();
    expect(await renew(redis, leaseKeys, a, TTL, T0 + 10_000)).toBe(2);
    expect(await redis.zscore(userKey, a)).toBe(String(T0 + 10_000 + TTL));
    expect(await redis.zscore(orgKey, a)).toBe(String(T0 + 10_000 + TTL));
    // b expired at T0 + TTL.
    expect(await renew(redis, leaseKeys, b, TTL, T0 + TTL)).toBe(0);
    expect(await redis.zscore(userKey, b)).toBeNull();
    expect(await release(redis, leaseKeys, refunds, b, T0 + TTL)).toBe(0);
    expect(await redis.hgetall(o.quotas)).toEqual({ 'u:a': '2', o: '2' });
    expect(await release(redis, leaseKeys, refunds, a, T0 + TTL)).toBe(2);
    expect(await redis.hgetall(o.quotas)).toEqual({ 'u:a': '1', o: '1' });
    expect(await redis.exists(userKey, orgKey)).toBe(0);
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
    const levels = [bucket(org().hash, F.keyRate(KEY, TIER), 2, 60_000)];
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
  const storm = (levels: readonly ScriptLevel[], ids: readonly string[] = Array.from({ length: CALLS }, () => leaseId())) => {
    const conns = [redis, ...extra];
    return Promise.all(ids.map((id, i) => acquire(conns[i % conns.length]!, levels, id, TTL, T0)));
  };

  it(`${CALLS} concurrent calls against a bucket of ${CAP} admit exactly ${CAP}`, async () => {
    const { hash } = org();
    const rs = await storm([bucket(hash, F.keyRate(KEY, TIER), CAP, 60_000)]);
    expect(admittedCount(rs)).toBe(CAP);
    expect(rs.filter((r) => !r.admitted).every((r) => r.refusingLevel === 0 && r.retryAfterMs > 0)).toBe(true);
    expect(await bucketOf(hash, F.keyRate(KEY, TIER))).toEqual({ tokens: 0, at: T0 });
  });

  it(`${CALLS} concurrent calls against a burst ring of ${CAP} admit exactly ${CAP}`, async () => {
    const { hash } = org();
    const field = F.userBurst(USER, TIER, 1_000);
    const rs = await storm([ring(hash, field, CAP, 1_000)]);
    expect(admittedCount(rs)).toBe(CAP);
    expect(await ringOf(hash, field)).toHaveLength(CAP);
  });

  it(`${CALLS} concurrent calls against a counted ring of ${CAP} admit exactly ${CAP}`, async () => {
    const { hash } = org();
    const field = F.userCountedBurst(USER, TIER, 1_000);
    const rs = await storm([countedWindow(hash, field, CAP, 1_000)]);
    expect(admittedCount(rs)).toBe(CAP);
    expect(await countedRingOf(hash, field)).toEqual({ count: CAP, slots: [[CAP, T0]] });
  });

  it(`${CALLS} concurrent calls against ${CAP} concurrency slots hold exactly ${CAP} leases`, async () => {
    const { hash } = org();
    const field = F.userConcurrency(USER);
    const ids = Array.from({ length: CALLS }, () => leaseId());
    const rs = await storm([leaseLevel(hash, field, CAP)], ids);
    expect(admittedCount(rs)).toBe(CAP);
    expect(await counterOf(hash, field)).toBe(CAP);
    expect(await leaseIdsOf(hash)).toEqual(ids.filter((_, i) => rs[i]!.admitted).sort());
  });

  it(`${CALLS} concurrent calls against a 'block' quota of ${CAP} admit exactly ${CAP}, and count exactly ${CAP}`, async () => {
    const { quotas: key } = org();
    const rs = await storm([quota(key, 'u:a:d:1', CAP, 90_000_000, 1_000, 'block'), quota(key, 'o', 10 * CALLS, 90_000_000, 1_000, 'block')]);
    expect(admittedCount(rs)).toBe(CAP);
    expect(rs.filter((r) => !r.admitted).every((r) => r.refusingLevel === 0 && r.retryAfterMs === 1_000)).toBe(true);
    expect(await redis.hgetall(key)).toEqual({ 'u:a:d:1': String(CAP), o: String(CAP) });
  });

  it(`${CALLS} concurrent releases with refunds of ${CAP} calls, each released twice, refund each call exactly once`, async () => {
    const o = org();
    const field = F.userConcurrency(USER);
    const levels = [leaseLevel(o.hash, field, CALLS), quota(o.quotas, 'u:a', CALLS, 90_000_000, 1_000)];
    const ids = Array.from({ length: CAP }, () => leaseId());
    for (const id of ids) expect((await acquire(redis, levels, id, TTL, T0)).admitted).toBe(true);
    const conns = [redis, ...extra];
    const released = await Promise.all([...ids, ...ids].map((id, i) => release(conns[i % conns.length]!, [o.hash], [ref(o.quotas, 'u:a')], id, T0)));
    expect(released.reduce((x, y) => x + y, 0)).toBe(CAP);
    expect(await redis.hget(o.quotas, 'u:a')).toBe('0');
    expect(await counterOf(o.hash, field)).toBe(0);
    expect(await leaseIdsOf(o.hash)).toEqual([]);
  });
});
