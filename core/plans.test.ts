import { describe, expect, it } from 'vitest';
import { Plan, planAllowsTool } from './plans.js';

function validPlan(): Plan {
  return {
    id: 'pro',
    name: 'Pro',
    rank: 1,
    limits: {
      perKey: { perMinute: 600 },
      perUser: { perMinute: 600, perDay: 50_000, perMonth: 1_000_000, concurrent: 8 },
      perOrg: { perMinute: 2_000, perDay: 200_000, perMonth: 4_000_000, concurrent: 32 },
      perIp: { perMinute: 1_200 },
      burst: { max: 50, windowMs: 1_000 },
      globalPool: { perSecond: 500 },
      expensive: { perMinute: 10, perDay: 500, concurrent: 2 },
      otherMethodsPerMinute: 600,
    },
    allowedTools: null,
    cacheTtlSeconds: 300,
    quotaPolicy: 'soft',
  };
}

describe('Plan schema', () => {
  it('accepts a complete plan', () => {
    expect(Plan.parse(validPlan())).toEqual(validPlan());
  });

  it('rejects unknown fields at the top level and inside limits', () => {
    expect(Plan.safeParse({ ...validPlan(), discount: 10 }).success).toBe(false);
    const plan = validPlan();
    const limits = { ...plan.limits, perKey: { perMinute: 1, perHour: 60 } };
    expect(Plan.safeParse({ ...plan, limits }).success).toBe(false);
    expect(Plan.safeParse({ ...plan, limits: { ...plan.limits, perPlanet: 1 } }).success).toBe(false);
  });

  it('rejects negative and fractional limits', () => {
    const plan = validPlan();
    const negative = { ...plan, limits: { ...plan.limits, perUser: { ...plan.limits.perUser, perDay: -1 } } };
    expect(Plan.safeParse(negative).success).toBe(false);
    const fractional = { ...plan, limits: { ...plan.limits, perKey: { perMinute: 1.5 } } };
    expect(Plan.safeParse(fractional).success).toBe(false);
    expect(Plan.safeParse({ ...plan, cacheTtlSeconds: -1 }).success).toBe(false);
    expect(Plan.safeParse({ ...plan, rank: -1 }).success).toBe(false);
  });

  it('accepts zero limits (a tier that allows nothing)', () => {
    const plan = validPlan();
    expect(Plan.safeParse({ ...plan, limits: { ...plan.limits, expensive: { perMinute: 0, perDay: 0, concurrent: 0 } } }).success).toBe(true);
  });

  it('rejects a burst window under 100 ms, an unknown quota policy and a bad id', () => {
    const plan = validPlan();
    expect(Plan.safeParse({ ...plan, limits: { ...plan.limits, burst: { max: 5, windowMs: 50 } } }).success).toBe(false);
    expect(Plan.safeParse({ ...plan, quotaPolicy: 'unlimited' }).success).toBe(false);
    expect(Plan.safeParse({ ...plan, id: 'Pro Plan' }).success).toBe(false);
  });

  it('requires allowedTools to be present (null or a list)', () => {
    const { allowedTools: _omit, ...withoutList } = validPlan();
    expect(Plan.safeParse(withoutList).success).toBe(false);
    expect(Plan.safeParse({ ...validPlan(), allowedTools: ['text_stats'] }).success).toBe(true);
  });
});

describe('planAllowsTool', () => {
  const textStats = { name: 'text_stats', plans: ['free', 'pro', 'ultra'] };
  const countPrimes = { name: 'count_primes', plans: ['pro', 'ultra'] };

  it("uses the tool's declared plans when the plan has no list", () => {
    expect(planAllowsTool({ id: 'free', allowedTools: null }, textStats)).toBe(true);
    expect(planAllowsTool({ id: 'free', allowedTools: null }, countPrimes)).toBe(false);
    expect(planAllowsTool({ id: 'pro', allowedTools: null }, countPrimes)).toBe(true);
    expect(planAllowsTool({ id: 'custom', allowedTools: null }, textStats)).toBe(false);
  });

  it("lets an explicit list override the tool's declaration both ways", () => {
    const free = { id: 'free', allowedTools: ['count_primes'] };
    expect(planAllowsTool(free, countPrimes)).toBe(true);
    expect(planAllowsTool(free, textStats)).toBe(false);
  });

  it('allows nothing with an empty list', () => {
    const locked = { id: 'pro', allowedTools: [] };
    expect(planAllowsTool(locked, textStats)).toBe(false);
    expect(planAllowsTool(locked, countPrimes)).toBe(false);
  });
});
