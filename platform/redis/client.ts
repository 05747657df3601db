import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for commands. Fails fast instead of queueing forever when Redis is
 * down: callers decide what an unavailable Redis means (admission has a policy for it).
 */
export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    ...opts,
  });
}

export type { Redis };
