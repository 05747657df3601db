import { redisKeys } from '../../core/redis-keys.js';
import type { Redis } from '../redis/client.js';

/**
 * Changes every gateway must apply at once: a revoked or deleted key, an organization whose
 * plan or memberships changed (cached principals are stale), edited plans. Published on
 * one Redis channel after the change commits.
 */
export type TenancyEvent =
  /** The key no longer works: forget it and close the sessions it opened. */
  | { readonly type: 'key-revoked'; readonly keyId: string; readonly prefix: string }
  /** The key changed (an expiry was set by a rotation): re-read it on next use. */
  | { readonly type: 'key-changed'; readonly keyId: string; readonly prefix: string }
  | { readonly type: 'org-changed'; readonly orgId: string }
  | { readonly type: 'plans-changed' };

export async function publishTenancyEvent(redis: Redis, event: TenancyEvent): Promise<void> {
  await redis.publish(redisKeys.tenancyEvents(), JSON.stringify(event));
}

export function parseTenancyEvent(message: string): TenancyEvent | null {
  try {
    const e = JSON.parse(message) as TenancyEvent;
    return e && typeof e === 'object' && typeof e.type === 'string' ? e : null;
  } catch {
    return null;
  }
}
