import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export interface RedisSettings {
  readonly url: string;
  /** Seed nodes of a Redis Cluster (`host:port`); when present, `url` is not used. */
  readonly clusterNodes?: readonly string[] | undefined;
}

/**
 * A Redis connection, single node or cluster.
 * - `commands`: general use (pub/sub publishing, progress, tooling); queues briefly while
 *   reconnecting.
 * - `admission`: the hot path; fails fast (no offline queue, a command timeout) so a Redis
 *   outage becomes an admission decision (per-tier policy), not a hung request.
 * - `subscriber`: a dedicated pub/sub connection (subscribed connections run nothing else).
 */
export function createRedis(settings: RedisSettings | string, purpose: 'commands' | 'admission' | 'subscriber' = 'commands', timeoutMs = 1_000): Redis {
  const s: RedisSettings = typeof settings === 'string' ? { url: settings } : settings;
  const options: RedisOptions = {
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    ...(purpose === 'admission'
      ? // No auto-pipelining: the gateway already sends one command per kind per event-loop
        // turn (decisions with the releases riding along: gateway/src/admission/admission-batcher.ts;
        // usage appends: platform/redis/per-turn-batches.ts), and
        // the pipeline ioredis builds per turn cost more client CPU than the writes it
        // saves (docs/performance.md).
        { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: timeoutMs }
      : { enableOfflineQueue: true, maxRetriesPerRequest: 1 }),
    // A subscription made while connecting can reach Redis before ioredis's ready check
    // (INFO), which Redis then refuses on a subscribed connection ("Connection in
    // subscriber mode"); a pub/sub connection needs no ready check.
    ...(purpose === 'subscriber' ? { enableReadyCheck: false } : {}),
  };
  if (s.clusterNodes?.length) {
    const nodes = s.clusterNodes.map((n) => {
      const [host, port] = n.split(':');
      return { host: host!, port: Number(port) };
    });
    // Typed as Redis: the commands and scripts we use behave the same on both.
    return new Cluster(nodes, { redisOptions: options, enableOfflineQueue: options.enableOfflineQueue ?? true, ...(purpose === 'admission' ? { maxRedirections: 4 } : {}) }) as unknown as Redis;
  }
  return new Redis(s.url, options);
}

export type { Redis };
