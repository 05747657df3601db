/**
 * Every Redis key the platform writes, in one place. Keys that one Lua call touches
 * together share a `{hash tag}` so the call stays in one Redis Cluster slot.
 */
export const redisKeys = {
  /** Token bucket of one API key's calls per minute (hash: tokens, ts). */
  keyRate: (orgId: string, keyId: string): string => `tg:{${orgId}}:rl:key:${keyId}:m`,
  /** Pub/sub channel on which key revocations reach every gateway. */
  keyRevocations: (): string => 'tg:events:key-revoked',
} as const;
