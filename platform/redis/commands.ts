import { readFileSync } from 'node:fs';
import type { Redis, Result } from 'ioredis';

/**
 * Lua scripts live as `.lua` files next to this module. Each is read once and registered
 * with `defineCommand`, so ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT.
 */
const script = (name: string) => readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), 'utf8');

const SCRIPTS = {
  keyRate: { numberOfKeys: 1, lua: script('key-rate') },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    keyRate(bucketKey: string, capacity: number, nowMs: string): Result<[number, number, number, number], Context>;
  }
}

/** Registers every script on `redis` (idempotent per connection). */
export function registerScripts(redis: Redis): Redis {
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, def);
  }
  return redis;
}

export interface KeyRateDecision {
  readonly admitted: boolean;
  readonly remaining: number;
  readonly retryAfterMs: number;
  readonly limit: number;
}

/** One round trip: charge one call to the key's per-minute bucket, or report when to retry. */
export async function chargeKeyRate(redis: Redis, bucketKey: string, perMinute: number, nowMs?: number): Promise<KeyRateDecision> {
  const [admitted, remaining, retryAfterMs, limit] = await redis.keyRate(bucketKey, perMinute, nowMs === undefined ? '' : String(nowMs));
  return { admitted: admitted === 1, remaining, retryAfterMs, limit };
}
