import type { UsageRecord } from '../../core/usage.js';

let seq = 0;

/** A usage record of `who`, ended at `endedAt` (a successful text_stats call unless `over` says otherwise). */
export function usageRecord(who: { orgId: string; userId: string; keyId: string }, endedAt = Date.now(), over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    callId: `call_test${Date.now().toString(36)}${(seq++).toString().padStart(6, '0')}${Math.random().toString(36).slice(2, 6)}`,
    requestId: 'req_test',
    orgId: who.orgId,
    userId: who.userId,
    keyId: who.keyId,
    tool: 'text_stats',
    tier: 'pro',
    outcome: 'ok',
    units: 1,
    overage: false,
    cacheHit: false,
    latencyMs: 10,
    transport: 'http',
    startedAt: endedAt - 10,
    endedAt,
    ...over,
  };
}
