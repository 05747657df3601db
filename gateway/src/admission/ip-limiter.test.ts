import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../../core/errors.js';
import { PreAuthIpLimiter, preAuthIpGuard } from './ip-limiter.js';

const T0 = 1_767_225_600_000;

/** `n` requests at one instant; returns how many were admitted. */
function admitted(limiter: PreAuthIpLimiter, ip: string, n: number, now: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (limiter.take(ip, now) === 0) ok++;
  return ok;
}

describe('PreAuthIpLimiter', () => {
  // 120/min: one token every 500 ms.
  it('admits its per-minute capacity at once, then refuses with the time to one token', () => {
    const l = new PreAuthIpLimiter(120);
    expect(admitted(l, '198.51.100.1', 120, T0)).toBe(120);
    expect(l.take('198.51.100.1', T0)).toBe(500);
    expect(l.take('198.51.100.1', T0 + 250)).toBe(250);
    expect(l.take('198.51.100.1', T0 + 500)).toBe(0);
    expect(l.take('198.51.100.1', T0 + 500)).toBe(500);
  });

  it('refills to its capacity and no further', () => {
    const l = new PreAuthIpLimiter(120);
    expect(admitted(l, '198.51.100.1', 120, T0)).toBe(120);
    expect(admitted(l, '198.51.100.1', 121, T0 + 60_000)).toBe(120);
    expect(admitted(l, '198.51.100.1', 130, T0 + 86_400_000)).toBe(120);
  });

  it('keeps one bucket per IP', () => {
    const l = new PreAuthIpLimiter(1);
    expect(l.take('198.51.100.1', T0)).toBe(0);
    expect(l.take('198.51.100.1', T0)).toBe(60_000);
    expect(l.take('198.51.100.2', T0)).toBe(0);
    expect(l.take('2001:db8::1', T0)).toBe(0);
  });

  it('a limit of 0 disables it', () => {
    const l = new PreAuthIpLimiter(0);
    expect(admitted(l, '198.51.100.1', 1_000, T0)).toBe(1_000);
  });

  it('tracks at most maxTracked IPs, forgetting the least recently seen first', () => {
    const l = new PreAuthIpLimiter(1, 2);
    expect(l.take('a', T0)).toBe(0);
    expect(l.take('b', T0)).toBe(0);
    // a is seen again (refused): it becomes the most recent; b is now the oldest.
    expect(l.take('a', T0)).toBe(60_000);
    expect(l.take('c', T0)).toBe(0); // third IP: b is forgotten
    expect(l.take('a', T0)).toBe(60_000); // a is still tracked, still empty
    expect(l.take('b', T0)).toBe(0); // b starts over with a full bucket (c is forgotten)
    expect(l.take('b', T0)).toBe(60_000);
    expect(l.take('a', T0)).toBe(60_000); // a survived both evictions
  });

  it('a flood of distinct IPs cannot hold more than maxTracked buckets', () => {
    const l = new PreAuthIpLimiter(1, 100);
    expect(l.take('victim', T0)).toBe(0);
    expect(l.take('victim', T0)).toBe(60_000);
    for (let i = 0; i < 100; i++) l.take(`flood-${i}`, T0);
    // 100 newer IPs pushed the victim's empty bucket out.
    expect(l.take('victim', T0)).toBe(0);
  });
});

describe('preAuthIpGuard', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes while the IP has tokens, then throws RATE_LIMITED with reason ip, the wait and the upgrade URL', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const guard = preAuthIpGuard(new PreAuthIpLimiter(2), 'https://tollgate.test/upgrade');
    guard.check('198.51.100.9');
    guard.check('198.51.100.9');
    let thrown: unknown;
    try {
      guard.check('198.51.100.9');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(AppError);
    const err = thrown as AppError;
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.details).toEqual({ reason: 'ip', retryAfterMs: 30_000, upgradeUrl: 'https://tollgate.test/upgrade' });
    expect(err.message).toContain('30 s');
    vi.setSystemTime(T0 + 30_000);
    expect(() => guard.check('198.51.100.9')).not.toThrow();
  });
});
