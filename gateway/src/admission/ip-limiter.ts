import { formatDuration } from '../../../core/duration.js';
import { AppError } from '../../../core/errors.js';

/**
 * A per-IP token bucket in process memory, applied before authentication: it cuts floods
 * of unauthenticated (or any) requests without touching Redis or Postgres. Per replica by
 * design; the exact, cluster-wide per-IP limit of a plan is one of the admission levels.
 */
export class PreAuthIpLimiter {
  private readonly buckets = new Map<string, { tokens: number; ts: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly maxTracked = 100_000,
  ) {}

  /** Charges one request from `ip`; returns ms to wait when refused, 0 when admitted. */
  take(ip: string, now = Date.now()): number {
    if (this.perMinute <= 0) return 0;
    const rate = this.perMinute / 60_000;
    const b = this.buckets.get(ip) ?? { tokens: this.perMinute, ts: now };
    b.tokens = Math.min(this.perMinute, b.tokens + (now - b.ts) * rate);
    b.ts = now;
    // Re-insert so Map order is least-recently-seen first, for eviction.
    this.buckets.delete(ip);
    this.buckets.set(ip, b);
    if (this.buckets.size > this.maxTracked) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens < 1) return Math.ceil((1 - b.tokens) / rate);
    b.tokens -= 1;
    return 0;
  }
}

/** Throws the 429 of a pre-authentication refusal. */
export function preAuthIpGuard(limiter: PreAuthIpLimiter, upgradeUrl: string): { check(ip: string): void } {
  return {
    check(ip: string) {
      const retryAfterMs = limiter.take(ip);
      if (retryAfterMs > 0) {
        throw new AppError('RATE_LIMITED', `too many requests from your IP address; retry in ${formatDuration(retryAfterMs)}`, {
          reason: 'ip',
          retryAfterMs,
          upgradeUrl,
        });
      }
    },
  };
}
