import type { Principal } from '../../../core/principal.js';
import type { ToolDefinition } from '../../../core/tools/define.js';
import { redisKeys } from '../../../core/redis-keys.js';
import type { Redis } from '../../../platform/redis/client.js';
import { chargeKeyRate } from '../../../platform/redis/commands.js';

/** Why a call was refused; the stable `data.reason` of the wire error. */
export type RefusalReason = 'rate' | 'burst' | 'concurrency' | 'quota_daily' | 'quota_monthly' | 'ip' | 'global' | 'unavailable';

export type AdmissionDecision =
  | { readonly ok: true; readonly limit: number; readonly remaining: number }
  | {
      readonly ok: false;
      readonly code: 'RATE_LIMITED' | 'QUOTA_EXCEEDED' | 'UPSTREAM_UNAVAILABLE';
      readonly reason: RefusalReason;
      readonly limit: number;
      readonly remaining: number;
      readonly retryAfterMs: number;
    };

/**
 * Admits or refuses a tool call in one Redis round trip, before any tool work. Denials
 * are values; only the transports turn them into HTTP 429s or JSON-RPC errors.
 */
export class Admission {
  constructor(private readonly redis: Redis) {}

  async admitToolCall(principal: Principal, _tool: ToolDefinition): Promise<AdmissionDecision> {
    const perMinute = principal.plan.limits.perKey.perMinute;
    try {
      const d = await chargeKeyRate(this.redis, redisKeys.keyRate(principal.orgId, principal.keyId), perMinute);
      if (d.admitted) return { ok: true, limit: d.limit, remaining: d.remaining };
      return { ok: false, code: 'RATE_LIMITED', reason: 'rate', limit: d.limit, remaining: d.remaining, retryAfterMs: d.retryAfterMs };
    } catch {
      // Without Redis there is no shared count: refuse rather than over-admit.
      return { ok: false, code: 'UPSTREAM_UNAVAILABLE', reason: 'unavailable', limit: perMinute, remaining: 0, retryAfterMs: 1_000 };
    }
  }
}
