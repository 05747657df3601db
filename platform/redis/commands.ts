import { readFileSync } from 'node:fs';
import type { Cluster, Redis, Result } from 'ioredis';

/**
 * Lua scripts live as `.lua` files next to this module. Each is read once and registered
 * with `defineCommand`, so ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT (after
 * a Redis restart or failover), on a single node and on a cluster alike.
 */
const script = (name: string) => readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), 'utf8');

const SCRIPTS = {
  admissionAcquire: { lua: script('admission-acquire') },
  admissionRelease: { lua: script('admission-release') },
  admissionRenew: { lua: script('admission-renew') },
  poolLease: { numberOfKeys: 1, lua: script('pool-lease') },
} as const;

type AcquireReply = [admitted: number, level: number, limit: number, remaining: number, retryAfterMs: number, overQuotaMask: number];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Keys count first (`numberOfKeys` varies per call), then keys, then ARGV. */
    admissionAcquire(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<AcquireReply, Context>;
    admissionRelease(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
    admissionRenew(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
    poolLease(poolKey: string, perSecond: number, batch: number): Result<number, Context>;
  }
}

export type RedisLike = Redis | Cluster;

/** Registers every script on `redis` (idempotent per connection). */
export function registerScripts<R extends RedisLike>(redis: R): R {
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, def);
  }
  return redis;
}

/** One level of an admission decision, as the acquire script takes it. */
export interface ScriptLevel {
  readonly kind: 'bucket' | 'window' | 'lease' | 'quota';
  readonly key: string;
  readonly limit: number;
  readonly p1: number;
  readonly p2: number;
  readonly policy: 'block' | 'soft' | 'overage';
}

export interface AcquireResult {
  readonly admitted: boolean;
  /** 0-based index of the refusing level, or -1. */
  readonly refusingLevel: number;
  readonly limit: number;
  readonly remaining: number;
  readonly retryAfterMs: number;
  /** 0-based indexes of quota levels admitted past their limit (soft / overage). */
  readonly overQuota: number[];
}

/** One round trip: decide every level, charge all or none. */
export async function acquire(redis: RedisLike, levels: readonly ScriptLevel[], leaseId: string, leaseTtlMs: number, nowMs?: number): Promise<AcquireResult> {
  const args: Array<string | number> = [];
  for (const l of levels) args.push(l.key);
  args.push(nowMs === undefined ? '' : nowMs, leaseId, leaseTtlMs, levels.length);
  for (const l of levels) args.push(l.kind, l.limit, l.p1, l.p2, l.policy);
  const [admitted, level, limit, remaining, retryAfterMs, mask] = await redis.admissionAcquire(levels.length, ...args);
  const overQuota: number[] = [];
  for (let i = 0; i < levels.length; i++) if (mask & (1 << i)) overQuota.push(i);
  return { admitted: admitted === 1, refusingLevel: level - 1, limit, remaining, retryAfterMs, overQuota };
}

/** Ends a call: drops its leases, and refunds its quota units when it failed. */
export async function release(redis: RedisLike, leaseKeys: readonly string[], quotaKeys: readonly string[], leaseId: string, refund: boolean): Promise<number> {
  const keys = [...leaseKeys, ...quotaKeys];
  if (keys.length === 0) return 0;
  return redis.admissionRelease(keys.length, ...keys, leaseId, leaseKeys.length, refund ? '1' : '0');
}

/** Extends a running call's leases; returns how many were still held. */
export async function renew(redis: RedisLike, leaseKeys: readonly string[], leaseId: string, ttlMs: number, nowMs?: number): Promise<number> {
  if (leaseKeys.length === 0) return 0;
  return redis.admissionRenew(leaseKeys.length, ...leaseKeys, leaseId, ttlMs, nowMs === undefined ? '' : nowMs);
}
