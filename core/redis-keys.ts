/**
 * Every Redis key the platform writes, in one place. Keys that one Lua call touches
 * together share a `{hash tag}` so the call stays in one Redis Cluster slot.
 */
const org = (orgId: string) => `tg:{${orgId}}`;

export const redisKeys = {
  /**
   * The organization's per-minute token buckets for one tier (hash of "tokens:ts"): fields
   * `k:<key>` (per API key), `u:<user>`, `x:<user>` (expensive tools) and `o` (the whole
   * organization). One hash, so one read and one write decide them all.
   */
  rates: (orgId: string, tier: string): string => `${org(orgId)}:rl:${tier}:1m`,
  /** Sliding-window log (zset) of one user's recent calls, for burst control. */
  userBurst: (orgId: string, userId: string, tier: string, windowMs: number): string => `${org(orgId)}:burst:user:${userId}:${tier}:${windowMs}ms`,
  /** Token bucket of calls from one client IP into the organization (a key of its own: IPs have no bound). */
  ipRate: (orgId: string, ip: string, tier: string): string => `${org(orgId)}:rl:ip:${ip}:${tier}:1m`,
  /** Token bucket of one key's cheap methods (tools/list, ping, ...) per minute. */
  otherMethodsRate: (orgId: string, keyId: string, tier: string): string => `${org(orgId)}:rl:other:key:${keyId}:${tier}:1m`,
  /** Concurrency leases (zset lease id → expiry ms). */
  userLeases: (orgId: string, userId: string): string => `${org(orgId)}:conc:user:${userId}`,
  orgLeases: (orgId: string): string => `${org(orgId)}:conc:org`,
  expensiveLeases: (orgId: string, userId: string): string => `${org(orgId)}:conc:exp:user:${userId}`,
  /**
   * The organization's quota counters for one billing period (hash): fields `o` and
   * `u:<user>` count the period, `o:<day>`, `u:<user>:<day>` and `x:<user>:<day>` (expensive
   * tools) count days. Counters need no reset: the hash expires after its period.
   */
  quotas: (orgId: string, periodId: string): string => `${org(orgId)}:quota:${periodId}`,
  /** A tier's global pool for one second; its own slot, leased in batches. */
  poolSecond: (tier: string, epochSecond: number): string => `tg:{pool:${tier}}:s:${epochSecond}`,
  /**
   * One shard of the usage stream: gateways append a record per ended call; workers read
   * them in batches (consumer group) into Postgres. Each shard is its own slot.
   */
  usageStream: (shard: number): string => `tg:{usage:${shard}}:records`,
  /** Pub/sub channel on which key revocations, org changes and plan edits reach every gateway. */
  tenancyEvents: (): string => 'tg:events:tenancy',
} as const;
