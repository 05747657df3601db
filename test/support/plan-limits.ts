import type { PlanLimits } from '../../core/plans.js';

/**
 * Plan limits with every count set to `n` (burst over a 1 s window): out of reach when `n`
 * is large, so a test (or the bench) can lower just the level it is about.
 */
export function uniformLimits(n: number): PlanLimits {
  return {
    perKey: { perMinute: n },
    perUser: { perMinute: n, perDay: n, perMonth: n, concurrent: n },
    perOrg: { perMinute: n, perDay: n, perMonth: n, concurrent: n },
    perIp: { perMinute: n },
    burst: { max: n, windowMs: 1_000 },
    globalPool: { perSecond: n },
    expensive: { perMinute: n, perDay: n, concurrent: n },
    otherMethodsPerMinute: n,
  };
}
