import { z } from 'zod';

/**
 * One admitted call that ended: what billing, quotas reconciliation and analytics count.
 * Keyed by the call's id, unique across gateways and restarts; every writer inserts
 * idempotently on it, so a record delivered twice is counted once.
 */
export const UsageRecord = z
  .object({
    callId: z.string().min(8).max(64),
    requestId: z.string().min(1).max(64),
    orgId: z.string().min(1).max(64),
    userId: z.string().min(1).max(64),
    keyId: z.string().min(1).max(64),
    tool: z.string().min(1).max(80),
    tier: z.string().min(1).max(80),
    outcome: z.enum(['ok', 'tool_error', 'failed', 'cancelled']),
    /** Billable units: 1 for a successful call, 0 otherwise (quotas count successful calls). */
    units: z.number().int().min(0),
    /** Admitted past a quota under the `overage` policy: billed as overage. */
    overage: z.boolean(),
    cacheHit: z.boolean(),
    latencyMs: z.number().int().min(0),
    transport: z.enum(['http', 'ws', 'workflow']),
    /** Epoch milliseconds. */
    startedAt: z.number().int(),
    endedAt: z.number().int(),
  })
  .strict();
export type UsageRecord = z.infer<typeof UsageRecord>;

export type UsageOutcome = UsageRecord['outcome'];

/** Units a call is billed: successful calls count, failed and cancelled ones do not. */
export function unitsFor(outcome: UsageOutcome): number {
  return outcome === 'ok' ? 1 : 0;
}
