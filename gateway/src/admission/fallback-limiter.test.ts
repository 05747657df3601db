import { describe, expect, it } from 'vitest';
import type { KeyId, OrgId, UserId } from '../../../core/ids.js';
import type { Plan } from '../../../core/plans.js';
import type { Principal } from '../../../core/principal.js';
import { FallbackLimiter } from './fallback-limiter.js';

const T0 = 1_767_225_600_000;

function principal(opts: { perKeyPerMinute?: number; concurrent?: number; keyId?: string; userId?: string; orgId?: string } = {}): Principal {
  const plan: Plan = {
    id: 'pro',
    name: 'Pro',
    rank: 1,
    limits: {
      perKey: { perMinute: opts.perKeyPerMinute ?? 600 },
      perUser: { perMinute: 600, perDay: 5_000, perMonth: 100_000, concurrent: opts.concurrent ?? 1_000 },
      perOrg: { perMinute: 2_000, perDay: 25_000, perMonth: 500_000, concurrent: 2_000 },
      perIp: { perMinute: 600 },
      burst: { max: 10, windowMs: 1_000 },
      globalPool: { perSecond: 2_000 },
      expensive: { perMinute: 5, perDay: 500, concurrent: 2 },
      otherMethodsPerMinute: 600,
    },
    allowedTools: null,
    cacheTtlSeconds: 60,
    quotaPolicy: 'soft',
  };
  return {
    userId: (opts.userId ?? 'usr_A') as UserId,
    orgId: (opts.orgId ?? 'org_A') as OrgId,
    role: 'member',
    keyId: (opts.keyId ?? 'key_A') as KeyId,
    keyPrefix: 'tg_test',
    scopes: ['mcp'],
    plan,
  };
}

/** `n` takes at one instant; returns how many were admitted. */
function admitted(limiter: FallbackLimiter, p: Principal, n: number, now: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (limiter.take(p, now) === null) ok++;
  return ok;
}

describe('FallbackLimiter rate', () => {
  // 600/min × 10 % = 60/min per key: one token every 1 000 ms.
  const limiter = () => new FallbackLimiter(0.1);

  it('admits the fraction of the per-key rate at once, then refuses with the time to one token', () => {
    const l = limiter();
    const p = principal();
    expect(admitted(l, p, 60, T0)).toBe(60);
    expect(l.take(p, T0)).toEqual({ refused: 'rate', retryAfterMs: 1_000 });
    expect(l.take(p, T0 + 500)).toEqual({ refused: 'rate', retryAfterMs: 500 });
    expect(l.take(p, T0 + 1_000)).toBeNull();
    expect(l.take(p, T0 + 1_000)).toEqual({ refused: 'rate', retryAfterMs: 1_000 });
  });

  it('refills to its capacity and no further', () => {
    const l = limiter();
    const p = principal();
    expect(admitted(l, p, 60, T0)).toBe(60);
    expect(admitted(l, p, 61, T0 + 60_000)).toBe(60);
    expect(admitted(l, p, 70, T0 + 3_600_000)).toBe(60);
  });

  it('is per key: another key of the same user has its own bucket', () => {
    const l = limiter();
    expect(admitted(l, principal({ keyId: 'key_A' }), 61, T0)).toBe(60);
    expect(l.take(principal({ keyId: 'key_B' }), T0)).toBeNull();
  });

  it('allows at least one call per minute when the fraction rounds down to zero', () => {
    const l = new FallbackLimiter(0.1);
    const p = principal({ perKeyPerMinute: 5 }); // 0.5/min → 1/min
    expect(l.take(p, T0)).toBeNull();
    expect(l.take(p, T0)).toEqual({ refused: 'rate', retryAfterMs: 60_000 });
    expect(l.take(p, T0 + 60_000)).toBeNull();
  });
});

describe('FallbackLimiter concurrency', () => {
  it("caps a user's running calls at the plan's per-user concurrency; end() frees a slot", () => {
    const l = new FallbackLimiter(1);
    const p = principal({ concurrent: 2 });
    expect(l.take(p, T0)).toBeNull();
    expect(l.take(p, T0)).toBeNull();
    expect(l.take(p, T0)).toEqual({ refused: 'concurrency', retryAfterMs: 1_000 });
    l.end(p);
    expect(l.take(p, T0)).toBeNull();
    expect(l.take(p, T0)).toEqual({ refused: 'concurrency', retryAfterMs: 1_000 });
  });

  it("the user's keys share the cap; other users, and the same user id in another organization, do not", () => {
    const l = new FallbackLimiter(1);
    expect(l.take(principal({ concurrent: 1, keyId: 'key_A' }), T0)).toBeNull();
    expect(l.take(principal({ concurrent: 1, keyId: 'key_B' }), T0)).toEqual({ refused: 'concurrency', retryAfterMs: 1_000 });
    expect(l.take(principal({ concurrent: 1, keyId: 'key_C', userId: 'usr_B' }), T0)).toBeNull();
    expect(l.take(principal({ concurrent: 1, keyId: 'key_D', orgId: 'org_B' }), T0)).toBeNull();
  });

  it('a call refused for concurrency costs no token', () => {
    const l = new FallbackLimiter(0.1);
    const p = principal({ perKeyPerMinute: 30, concurrent: 1 }); // 3/min
    expect(l.take(p, T0)).toBeNull();
    for (let i = 0; i < 5; i++) expect(l.take(p, T0)).toEqual({ refused: 'concurrency', retryAfterMs: 1_000 });
    l.end(p);
    expect(l.take(p, T0)).toBeNull();
    l.end(p);
    expect(l.take(p, T0)).toBeNull();
    l.end(p);
    expect(l.take(p, T0)).toEqual({ refused: 'rate', retryAfterMs: 20_000 });
  });

  it('end() without a running call never raises the cap', () => {
    const l = new FallbackLimiter(1);
    const p = principal({ concurrent: 1 });
    l.end(p);
    l.end(p);
    expect(l.take(p, T0)).toBeNull();
    expect(l.take(p, T0)).toEqual({ refused: 'concurrency', retryAfterMs: 1_000 });
    l.end(p);
    l.end(p);
    expect(l.take(p, T0)).toBeNull();
    expect(l.take(p, T0)).toEqual({ refused: 'concurrency', retryAfterMs: 1_000 });
  });
});
