/**
 * Every Redis key the platform writes, in one place. Keys that one Lua call touches
 * together share a `{hash tag}` so the call stays in one Redis Cluster slot.
 */
const org = (orgId: string) => `tg:{${orgId}}`;

export const redisKeys = {
  /**
   * The organization's admission state (hash; see admission-acquire.lua): one key, so a
   * decision touches two (this and the period's quota hash). Field names say the
   * identifier, the tier and the window (`admissionFields`).
   */
  admission: (orgId: string): string => `${org(orgId)}:adm`,
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

/**
 * Fields of the admission hash. The first letter is the field's kind, which housekeeping
 * reads: `b` token bucket, `w` sliding-window ring (of calls or of counts), `c` concurrency counter (`l:<call>`
 * lease records and `n` are the script's own).
 */
export const admissionFields = {
  keyRate: (keyId: string, tier: string): string => `b:k:${keyId}:${tier}:1m`,
  userRate: (userId: string, tier: string): string => `b:u:${userId}:${tier}:1m`,
  orgRate: (tier: string): string => `b:o:${tier}:1m`,
  expensiveRate: (userId: string, tier: string): string => `b:x:${userId}:${tier}:1m`,
  ipRate: (ip: string, tier: string): string => `b:i:${ip}:${tier}:1m`,
  /** Cheap methods (tools/list, ping, ...) of one key. */
  otherMethodsRate: (keyId: string, tier: string): string => `b:m:${keyId}:${tier}:1m`,
  userBurst: (userId: string, tier: string, windowMs: number): string => `w:u:${userId}:${tier}:${windowMs}ms`,
  /** A burst too large for a ring: its calls counted per hundredth of the window (another format, so another field). */
  userCountedBurst: (userId: string, tier: string, windowMs: number): string => `w:uc:${userId}:${tier}:${windowMs}ms`,
  userConcurrency: (userId: string): string => `c:u:${userId}`,
  orgConcurrency: 'c:o',
  expensiveConcurrency: (userId: string): string => `c:x:${userId}`,
} as const;
