import { describe, expect, it } from 'vitest';
import type { Plan, QuotaPolicy } from '../plans.js';
import { calendarPeriods, otherMethodLevels, RING_MAX_CALLS, toolCallLevels, type AdmissionLevel, type CallDescription } from './levels.js';

const LIMITS: Plan['limits'] = {
  perKey: { perMinute: 20 },
  perUser: { perMinute: 21, perDay: 5_000, perMonth: 100_000, concurrent: 5 },
  perOrg: { perMinute: 100, perDay: 25_000, perMonth: 500_000, concurrent: 20 },
  perIp: { perMinute: 600 },
  burst: { max: 10, windowMs: 1_000 },
  globalPool: { perSecond: 2_000 },
  expensive: { perMinute: 5, perDay: 500, concurrent: 2 },
  otherMethodsPerMinute: 600,
};

const plan = (id: string, quotaPolicy: QuotaPolicy, limits: Plan['limits'] = LIMITS): Plan => ({ id, name: id, rank: 0, limits, allowedTools: null, cacheTtlSeconds: 60, quotaPolicy });

const ORG = 'org_7HqTestOrganization';
const call = (p: Plan, group: CallDescription['group'] = 'core'): CallDescription => ({
  orgId: ORG,
  userId: 'usr_TestUser',
  keyId: 'key_TestKey',
  ip: '203.0.113.7',
  plan: p,
  group,
});

/** 2026-11-21T15:30:00Z */
const NOW = Date.UTC(2026, 10, 21, 15, 30);
const PERIODS = calendarPeriods(NOW);
const DAY = 86_400_000;

/** What identifies a level in order: its kind, reason and scope. */
const shape = (levels: readonly AdmissionLevel[]) => levels.map((l) => `${l.kind}:${l.reason}:${l.scope}`);

/** One counter: a level's key, and its field (every level but a large burst window is a field of a hash). */
const counter = (l: AdmissionLevel) => (l.field === undefined ? l.key : `${l.key} ${l.field}`);

/** The quota hash of the organization for the billing period of NOW. */
const QUOTAS = `tg:{${ORG}}:quota:m:2026-11`;
/** The organization's admission hash: every level but quotas (and a burst too large for a ring). */
const ADM = `tg:{${ORG}}:adm`;

/** The substring Redis Cluster hashes: between the first `{` and the next `}`. */
const hashTag = (key: string) => {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : null;
};

describe('toolCallLevels', () => {
  it('orders a core tool call: rates (key, user, burst, org, ip), then concurrency (user, org), then daily and monthly quotas (user, org)', () => {
    expect(shape(toolCallLevels(call(plan('pro', 'soft')), PERIODS))).toEqual([
      'bucket:rate:key',
      'bucket:rate:user',
      'window:burst:user',
      'bucket:rate:organization',
      'bucket:ip:ip',
      'lease:concurrency:user',
      'lease:concurrency:organization',
      'quota:quota_daily:user',
      'quota:quota_daily:organization',
      'quota:quota_monthly:user',
      'quota:quota_monthly:organization',
    ]);
  });

  it('an expensive tool adds exactly the expensive rate, concurrency and daily quota, each at the end of its group', () => {
    const core = toolCallLevels(call(plan('pro', 'soft')), PERIODS);
    const expensive = toolCallLevels(call(plan('pro', 'soft'), 'expensive'), PERIODS);
    expect(shape(expensive)).toEqual([
      'bucket:rate:key',
      'bucket:rate:user',
      'window:burst:user',
      'bucket:rate:organization',
      'bucket:ip:ip',
      'bucket:rate:user',
      'lease:concurrency:user',
      'lease:concurrency:organization',
      'lease:concurrency:user',
      'quota:quota_daily:user',
      'quota:quota_daily:organization',
      'quota:quota_daily:user',
      'quota:quota_monthly:user',
      'quota:quota_monthly:organization',
    ]);
    const isCore = (l: AdmissionLevel) => core.some((c) => counter(c) === counter(l));
    const added = expensive.filter((l) => !isCore(l));
    expect(added.map((l) => [l.kind, l.key, l.field, l.limit])).toEqual([
      ['bucket', ADM, 'b:x:usr_TestUser:pro:1m', LIMITS.expensive.perMinute],
      ['lease', ADM, 'c:x:usr_TestUser', LIMITS.expensive.concurrent],
      ['quota', QUOTAS, `x:usr_TestUser:${PERIODS.dayId}`, LIMITS.expensive.perDay],
    ]);
    // Everything else is the same as for a core tool, in the same relative order.
    expect(expensive.filter(isCore)).toEqual(core);
  });

  it('takes every limit from the plan', () => {
    const levels = toolCallLevels(call(plan('pro', 'soft')), PERIODS);
    expect(levels.map((l) => [l.limit, l.p1])).toEqual([
      [LIMITS.perKey.perMinute, 60_000],
      [LIMITS.perUser.perMinute, 60_000],
      [LIMITS.burst.max, LIMITS.burst.windowMs],
      [LIMITS.perOrg.perMinute, 60_000],
      [LIMITS.perIp.perMinute, 60_000],
      [LIMITS.perUser.concurrent, 0],
      [LIMITS.perOrg.concurrent, 0],
      [LIMITS.perUser.perDay, PERIODS.msToMonthEnd + DAY],
      [LIMITS.perOrg.perDay, PERIODS.msToMonthEnd + DAY],
      [LIMITS.perUser.perMonth, PERIODS.msToMonthEnd + DAY],
      [LIMITS.perOrg.perMonth, PERIODS.msToMonthEnd + DAY],
    ]);
  });

  it('quotas retry at the end of their period; their hash outlives the billing period by a day, so every counter outlives its period by a day or more', () => {
    const quotas = toolCallLevels(call(plan('pro', 'soft'), 'expensive'), PERIODS).filter((l) => l.kind === 'quota');
    expect(quotas.map((l) => [l.period, l.p2, l.p1])).toEqual([
      ['day', PERIODS.msToDayEnd, PERIODS.msToMonthEnd + DAY],
      ['day', PERIODS.msToDayEnd, PERIODS.msToMonthEnd + DAY],
      ['day', PERIODS.msToDayEnd, PERIODS.msToMonthEnd + DAY],
      ['month', PERIODS.msToMonthEnd, PERIODS.msToMonthEnd + DAY],
      ['month', PERIODS.msToMonthEnd, PERIODS.msToMonthEnd + DAY],
    ]);
    for (const l of quotas) expect(l.p1 - l.p2, l.field).toBeGreaterThanOrEqual(DAY);
    // On the last day of the month too (the day and the month end together).
    const last = calendarPeriods(Date.UTC(2026, 10, 30, 23));
    for (const l of toolCallLevels(call(plan('pro', 'soft'), 'expensive'), last).filter((q) => q.kind === 'quota')) {
      expect(l.p1 - l.p2, l.field).toBeGreaterThanOrEqual(DAY);
    }
  });

  it("shares the organization's hash tag on every key (one Redis Cluster slot)", () => {
    for (const group of ['core', 'expensive'] as const) {
      const levels = toolCallLevels({ ...call(plan('pro', 'soft'), group), ip: '2001:db8::1' }, PERIODS);
      for (const l of levels) expect(hashTag(l.key), l.key).toBe(ORG);
    }
    expect(hashTag(otherMethodLevels(call(plan('pro', 'soft')))[0]!.key)).toBe(ORG);
  });

  it('counters are distinct: no two levels of one call share a counter (each a field of its own: quotas in the period hash, the rest in the admission hash)', () => {
    for (const group of ['core', 'expensive'] as const) {
      const levels = toolCallLevels(call(plan('pro', 'soft'), group), PERIODS);
      const counters = levels.map(counter);
      expect(new Set(counters).size).toBe(counters.length);
      for (const l of levels) expect(typeof l.field, l.key).toBe('string');
      const fields = levels.map((l) => l.field);
      expect(new Set(fields).size).toBe(fields.length);
      // The shape acquire takes: every level of the admission hash first, quotas last, in one hash each.
      const firstQuota = levels.findIndex((l) => l.kind === 'quota');
      expect(levels.slice(firstQuota).every((l) => l.kind === 'quota')).toBe(true);
      expect(new Set(levels.slice(0, firstQuota).map((l) => l.key))).toEqual(new Set([ADM]));
      expect(new Set(levels.slice(firstQuota).map((l) => l.key))).toEqual(new Set([QUOTAS]));
      expect(levels[0]!.key).toBe(ADM);
    }
  });

  it('field names start with their kind, which housekeeping reads: b bucket, w burst ring (of calls or counts), c concurrency', () => {
    const prefix = { bucket: 'b:', window: 'w:', 'counted-window': 'w:', lease: 'c:' } as const;
    for (const max of [10, 1_000]) {
      const levels = toolCallLevels({ ...call(plan('pro', 'soft', { ...LIMITS, burst: { max, windowMs: 1_000 } }), 'expensive'), ip: '2001:db8::1' }, PERIODS);
      for (const l of levels) if (l.kind !== 'quota') expect(l.field.startsWith(prefix[l.kind]), l.field).toBe(true);
    }
    expect(otherMethodLevels(call(plan('pro', 'soft')))[0]!.field.startsWith('b:')).toBe(true);
  });

  it(`a burst of at most RING_MAX_CALLS (${RING_MAX_CALLS}) is a ring in the admission hash; a larger one a counted ring there, under another field`, () => {
    const burstOf = (max: number) => toolCallLevels(call(plan('pro', 'soft', { ...LIMITS, burst: { max, windowMs: 1_000 } })), PERIODS).find((l) => l.reason === 'burst')!;
    expect(burstOf(RING_MAX_CALLS)).toMatchObject({ kind: 'window', key: ADM, field: 'w:u:usr_TestUser:pro:1000ms', limit: RING_MAX_CALLS, p1: 1_000 });
    // Another format, so another field: a plan edit across the boundary never reads one as the other.
    expect(burstOf(RING_MAX_CALLS + 1)).toMatchObject({ kind: 'counted-window', key: ADM, field: 'w:uc:usr_TestUser:pro:1000ms', limit: RING_MAX_CALLS + 1, p1: 1_000 });
  });

  it("forces Free to 'block' even when its plan data says 'soft'", () => {
    for (const policy of ['soft', 'overage', 'block'] as const) {
      const quotas = toolCallLevels(call(plan('free', policy), 'expensive'), PERIODS).filter((l) => l.kind === 'quota');
      expect(quotas).toHaveLength(5);
      expect(quotas.every((l) => l.policy === 'block')).toBe(true);
    }
  });

  it.each(['soft', 'overage', 'block'] as const)("Pro follows its quota policy ('%s') on quotas, and only on quotas", (policy) => {
    const levels = toolCallLevels(call(plan('pro', policy), 'expensive'), PERIODS);
    for (const l of levels) expect(l.policy, l.key).toBe(l.kind === 'quota' ? policy : 'block');
  });

  it('rate fields carry the tier and the window; lease fields, the quota hash and its fields carry neither tier nor window', () => {
    const levels = toolCallLevels(call(plan('pro', 'soft'), 'expensive'), PERIODS);
    expect(levels.filter((l) => l.kind === 'bucket' || l.kind === 'window').map((l) => [l.key, l.field])).toEqual([
      [ADM, 'b:k:key_TestKey:pro:1m'],
      [ADM, 'b:u:usr_TestUser:pro:1m'],
      [ADM, 'w:u:usr_TestUser:pro:1000ms'],
      [ADM, 'b:o:pro:1m'],
      [ADM, 'b:i:203.0.113.7:pro:1m'],
      [ADM, 'b:x:usr_TestUser:pro:1m'],
    ]);
    expect(levels.filter((l) => l.kind === 'lease').map((l) => [l.key, l.field])).toEqual([
      [ADM, 'c:u:usr_TestUser'],
      [ADM, 'c:o'],
      [ADM, 'c:x:usr_TestUser'],
    ]);
    // Quotas: the organization's hash of the billing period, one field per counter.
    expect(levels.filter((l) => l.kind === 'quota').map((l) => [l.reason, l.scope, l.key, l.field])).toEqual([
      ['quota_daily', 'user', QUOTAS, 'u:usr_TestUser:d:2026-11-21'],
      ['quota_daily', 'organization', QUOTAS, 'o:d:2026-11-21'],
      ['quota_daily', 'user', QUOTAS, 'x:usr_TestUser:d:2026-11-21'],
      ['quota_monthly', 'user', QUOTAS, 'u:usr_TestUser'],
      ['quota_monthly', 'organization', QUOTAS, 'o'],
    ]);
    for (const l of levels.filter((q) => q.kind === 'lease' || q.kind === 'quota')) {
      for (const part of [l.key, l.field ?? '']) {
        expect(part).not.toMatch(/pro|:1m|\d+ms/);
      }
    }
  });

  it('a plan change keeps quota counts and running leases, and starts fresh rate buckets', () => {
    const free = toolCallLevels(call(plan('free', 'block')), PERIODS);
    const pro = toolCallLevels(call(plan('pro', 'soft')), PERIODS);
    const keysOf = (levels: readonly AdmissionLevel[], kinds: readonly string[]) => levels.filter((l) => kinds.includes(l.kind)).map(counter);
    expect(keysOf(pro, ['quota', 'lease'])).toEqual(keysOf(free, ['quota', 'lease']));
    expect(keysOf(pro, ['quota'])).toHaveLength(4);
    const freeRates = keysOf(free, ['bucket', 'window']);
    for (const k of keysOf(pro, ['bucket', 'window'])) expect(freeRates).not.toContain(k);
  });

  it('a different burst window is a different burst counter (ring or counted ring)', () => {
    const burstOf = (max: number, windowMs: number) => toolCallLevels(call(plan('pro', 'soft', { ...LIMITS, burst: { max, windowMs } })), PERIODS).find((l) => l.reason === 'burst')!;
    for (const max of [10, 100]) {
      const [a, b] = [burstOf(max, 1_000), burstOf(max, 2_000)];
      expect(a.key).toBe(b.key);
      expect(a.field).not.toBe(b.field);
      // Housekeeping reads a window's length from the end of its field.
      expect(b.field.endsWith(':2000ms')).toBe(true);
    }
  });
});

describe('otherMethodLevels', () => {
  it('is one per-key bucket at the plan’s cheap-method rate', () => {
    expect(otherMethodLevels(call(plan('pro', 'soft')))).toEqual([
      { reason: 'rate', scope: 'key', kind: 'bucket', key: ADM, field: 'b:m:key_TestKey:pro:1m', limit: LIMITS.otherMethodsPerMinute, p1: 60_000, p2: 0, policy: 'block', period: 'minute' },
    ]);
  });
});

describe('calendarPeriods', () => {
  const H = 3_600_000;

  it('in the middle of a day', () => {
    expect(calendarPeriods(NOW)).toEqual({ dayId: 'd:2026-11-21', msToDayEnd: 8.5 * H, monthId: 'm:2026-11', msToMonthEnd: 9 * DAY + 8.5 * H });
  });

  it('the last millisecond of a year', () => {
    expect(calendarPeriods(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toEqual({ dayId: 'd:2026-12-31', msToDayEnd: 1, monthId: 'm:2026-12', msToMonthEnd: 1 });
  });

  it('UTC midnight starts a new day (and here a new month and year) with a whole period ahead', () => {
    expect(calendarPeriods(Date.UTC(2027, 0, 1))).toEqual({ dayId: 'd:2027-01-01', msToDayEnd: DAY, monthId: 'm:2027-01', msToMonthEnd: 31 * DAY });
  });

  it('the end of a 30-day month', () => {
    expect(calendarPeriods(Date.UTC(2026, 3, 30, 12))).toEqual({ dayId: 'd:2026-04-30', msToDayEnd: 12 * H, monthId: 'm:2026-04', msToMonthEnd: 12 * H });
  });

  it('a leap day is a day of February, and February of a leap year has 29 days', () => {
    expect(calendarPeriods(Date.UTC(2028, 1, 29, 6))).toEqual({ dayId: 'd:2028-02-29', msToDayEnd: 18 * H, monthId: 'm:2028-02', msToMonthEnd: 18 * H });
    expect(calendarPeriods(Date.UTC(2028, 1, 1)).msToMonthEnd).toBe(29 * DAY);
    expect(calendarPeriods(Date.UTC(2027, 1, 1)).msToMonthEnd).toBe(28 * DAY);
    expect(calendarPeriods(Date.UTC(2028, 2, 1)).dayId).toBe('d:2028-03-01');
  });

  it('one millisecond before UTC midnight is still the old day and month', () => {
    const p = calendarPeriods(Date.UTC(2026, 5, 30, 23, 59, 59, 999));
    expect(p).toEqual({ dayId: 'd:2026-06-30', msToDayEnd: 1, monthId: 'm:2026-06', msToMonthEnd: 1 });
  });
});
