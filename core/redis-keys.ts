/**
 * Every Redis key the platform writes, in one place. Keys that one Lua call touches
 * together share a `{hash tag}` so the call stays in one Redis Cluster slot.
 */
const org = (orgId: string) => `tg:{${orgId}}`;

export const redisKeys = {
  /** Token bucket of one API key's calls per minute (hash: tokens, ts). */
  keyRate: (orgId: string, keyId: string, tier: string): string => `${org(orgId)}:rl:key:${keyId}:${tier}:1m`,
  /** Token bucket of one user's calls per minute within the organization. */
  userRate: (orgId: string, userId: string, tier: string): string => `${org(orgId)}:rl:user:${userId}:${tier}:1m`,
  /** Sliding-window log (zset) of one user's recent calls, for burst control. */
  userBurst: (orgId: string, userId: string, tier: string, windowMs: number): string => `${org(orgId)}:burst:user:${userId}:${tier}:${windowMs}ms`,
  /** Token bucket of the whole organization's calls per minute. */
  orgRate: (orgId: string, tier: string): string => `${org(orgId)}:rl:org:${tier}:1m`,
  /** Token bucket of calls from one client IP into the organization. */
  ipRate: (orgId: string, ip: string, tier: string): string => `${org(orgId)}:rl:ip:${ip}:${tier}:1m`,
  /** Token bucket of one user's calls of expensive tools per minute. */
  expensiveRate: (orgId: string, userId: string, tier: string): string => `${org(orgId)}:rl:exp:user:${userId}:${tier}:1m`,
  /** Token bucket of one key's cheap methods (tools/list, ping, ...) per minute. */
  otherMethodsRate: (orgId: string, keyId: string, tier: string): string => `${org(orgId)}:rl:other:key:${keyId}:${tier}:1m`,
  /** Concurrency leases (zset lease id → expiry ms). */
  userLeases: (orgId: string, userId: string): string => `${org(orgId)}:conc:user:${userId}`,
  orgLeases: (orgId: string): string => `${org(orgId)}:conc:org`,
  expensiveLeases: (orgId: string, userId: string): string => `${org(orgId)}:conc:exp:user:${userId}`,
  /** Quota counters, one key per period: they need no reset, they expire. */
  userQuota: (orgId: string, userId: string, period: string): string => `${org(orgId)}:quota:user:${userId}:${period}`,
  orgQuota: (orgId: string, period: string): string => `${org(orgId)}:quota:org:${period}`,
  expensiveQuota: (orgId: string, userId: string, period: string): string => `${org(orgId)}:quota:exp:user:${userId}:${period}`,
  /** A tier's global pool for one second; its own slot, leased in batches. */
  poolSecond: (tier: string, epochSecond: number): string => `tg:{pool:${tier}}:s:${epochSecond}`,
  /** Pub/sub channel on which key revocations, org changes and plan edits reach every gateway. */
  tenancyEvents: (): string => 'tg:events:tenancy',
} as const;
