import type { Principal } from '../../../core/principal.js';

/**
 * Admission without Redis, for the tiers whose policy is to fail open (Pro, Ultra): a
 * conservative in-process limit per key (a fraction of the plan's per-key rate, per
 * gateway) and the plan's per-user concurrency cap, per gateway. Quotas cannot be counted
 * while Redis is away; the outage is logged and counted instead.
 */
export class FallbackLimiter {
  private readonly buckets = new Map<string, { tokens: number; ts: number }>();
  private readonly running = new Map<string, number>();

  constructor(private readonly fraction: number) {}

  /** Returns ms to wait when refused, 0 when admitted (then `end` must be called). */
  take(principal: Principal, now = Date.now()): { refused: 'rate' | 'concurrency'; retryAfterMs: number } | null {
    const perMinute = Math.max(1, Math.floor(principal.plan.limits.perKey.perMinute * this.fraction));
    const rate = perMinute / 60_000;
    const b = this.buckets.get(principal.keyId) ?? { tokens: perMinute, ts: now };
    b.tokens = Math.min(perMinute, b.tokens + (now - b.ts) * rate);
    b.ts = now;
    this.buckets.set(principal.keyId, b);
    if (b.tokens < 1) return { refused: 'rate', retryAfterMs: Math.ceil((1 - b.tokens) / rate) };
    const userKey = `${principal.orgId}/${principal.userId}`;
    const running = this.running.get(userKey) ?? 0;
    if (running >= principal.plan.limits.perUser.concurrent) return { refused: 'concurrency', retryAfterMs: 1_000 };
    b.tokens -= 1;
    this.running.set(userKey, running + 1);
    return null;
  }

  end(principal: Principal): void {
    const userKey = `${principal.orgId}/${principal.userId}`;
    const running = (this.running.get(userKey) ?? 1) - 1;
    if (running <= 0) this.running.delete(userKey);
    else this.running.set(userKey, running);
  }
}
