import { newId } from '../../core/ids.js';
import { redisKeys } from '../../core/redis-keys.js';
import type { ScriptLevel } from '../../platform/redis/commands.js';

/**
 * Levels for the admission scripts as tests build them by hand (the gateway builds them from
 * a plan: core/admission/levels.ts), and the fresh organizations they live in.
 */

/** A fixed instant (2026-01-01T00:00:00Z); every test moves its own clock from here. */
export const T0 = Date.UTC(2026, 0, 1);
/** A lease TTL long enough that real-time key expiry never interferes. */
export const TTL = 30_000;

export const USER = 'usr_a';
export const TIER = 'pro';
export const KEY = 'key_a';

/** A fresh organization: its keys share one hash tag no other test uses. */
export function org() {
  const orgId = newId('org');
  return {
    orgId,
    hash: redisKeys.admission(orgId),
    quotas: redisKeys.quotas(orgId, 'm:2026-01'),
  };
}

export type Org = ReturnType<typeof org>;

export const bucket = (hash: string, field: string, limit: number, periodMs: number): ScriptLevel => ({ kind: 'bucket', key: hash, field, limit, p1: periodMs, p2: 0, policy: 'block' });
/** A burst window kept as a ring: a field of the admission hash. */
export const ring = (hash: string, field: string, limit: number, windowMs: number): ScriptLevel => ({ kind: 'window', key: hash, field, limit, p1: windowMs, p2: 0, policy: 'block' });
/** A burst window counted per hundredth of the window (a burst too large for a ring): a field of the admission hash. */
export const countedWindow = (hash: string, field: string, limit: number, windowMs: number): ScriptLevel => ({
  kind: 'counted-window',
  key: hash,
  field,
  limit,
  p1: windowMs,
  p2: 0,
  policy: 'block',
});
export const leaseLevel = (hash: string, field: string, limit: number): ScriptLevel => ({ kind: 'lease', key: hash, field, limit, p1: 0, p2: 0, policy: 'block' });
export const quota = (key: string, field: string, limit: number, ttlMs: number, resetMs: number, policy: ScriptLevel['policy'] = 'block'): ScriptLevel => ({
  kind: 'quota',
  key,
  field,
  limit,
  p1: ttlMs,
  p2: resetMs,
  policy,
});
