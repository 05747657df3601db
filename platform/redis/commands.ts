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
  quotaRaise: { numberOfKeys: 1, lua: script('quota-raise') },
} as const;

type AcquireReply = [admitted: number, level: number, limit: number, remaining: number, retryAfterMs: number, overQuotaMask: number];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Keys count first (`numberOfKeys` varies per call), then keys, then ARGV. */
    admissionAcquire(numberOfKeys: number, ...keysAndArgs: Array<string | number | Buffer>): Result<AcquireReply, Context>;
    admissionRelease(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
    admissionRenew(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
    poolLease(poolKey: string, perSecond: number, batch: number): Result<number, Context>;
    quotaRaise(quotaKey: string, ttlMs: number, ...fieldCounts: Array<string | number>): Result<number, Context>;
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
  /** quota: the counter's field in its hash. */
  readonly field?: string;
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

/** A quota counter a failed call gives back. */
export interface QuotaRef {
  readonly key: string;
  readonly field: string;
}

const KIND = { bucket: 1, window: 2, lease: 3, quota: 4 } as const;
const POLICY = { block: 1, soft: 2, overage: 3 } as const;

/** Bytes per level in the packed spec: struct "<BBdddBB" (see admission-acquire.lua). */
const LEVEL_BYTES = 28;

/**
 * One round trip: decide every level, charge all or none. Levels go to the script as one
 * packed binary spec over the distinct keys they use: Redis reads it with struct.unpack
 * in C, where parsing dozens of arguments (or JSON) in Lua would cost most of the budget.
 */
export async function acquire(redis: RedisLike, levels: readonly ScriptLevel[], leaseId: string, leaseTtlMs: number, nowMs?: number): Promise<AcquireResult> {
  const keys: string[] = [];
  const index = new Map<string, number>();
  const fields: string[] = [];
  const spec = Buffer.allocUnsafe(levels.length * LEVEL_BYTES);
  levels.forEach((l, i) => {
    let k = index.get(l.key);
    if (k === undefined) {
      keys.push(l.key);
      k = keys.length;
      index.set(l.key, k);
    }
    const at = i * LEVEL_BYTES;
    spec.writeUInt8(KIND[l.kind], at);
    spec.writeUInt8(k, at + 1);
    spec.writeDoubleLE(l.limit, at + 2);
    spec.writeDoubleLE(l.p1, at + 10);
    spec.writeDoubleLE(l.p2, at + 18);
    spec.writeUInt8(POLICY[l.policy], at + 26);
    spec.writeUInt8(l.field === undefined ? 0 : fields.push(l.field), at + 27);
  });
  const [admitted, level, limit, remaining, retryAfterMs, mask] = await redis.admissionAcquire(
    keys.length,
    ...keys,
    nowMs === undefined ? '' : nowMs,
    leaseId,
    leaseTtlMs,
    spec,
    ...fields,
  );
  const overQuota: number[] = [];
  for (let i = 0; i < levels.length; i++) if (mask & (1 << i)) overQuota.push(i);
  return { admitted: admitted === 1, refusingLevel: level - 1, limit, remaining, retryAfterMs, overQuota };
}

/**
 * Ends a call: drops its leases (pruning expired ones) and, when it failed, refunds its
 * quota counters. Refunds happen once: a repeated release finds no lease and refunds nothing.
 */
export async function release(redis: RedisLike, leaseKeys: readonly string[], refunds: readonly QuotaRef[], leaseId: string, nowMs?: number): Promise<number> {
  const keys = [...leaseKeys];
  const refs: Array<[number, string]> = [];
  for (const r of refunds) {
    let k = keys.indexOf(r.key);
    if (k < 0) k = keys.push(r.key) - 1;
    refs.push([k + 1, r.field]);
  }
  if (keys.length === 0) return 0;
  return redis.admissionRelease(keys.length, ...keys, leaseId, leaseKeys.length, nowMs === undefined ? '' : nowMs, JSON.stringify(refs));
}

/** Extends a running call's leases; returns how many were still held (expired ones are not revived). */
export async function renew(redis: RedisLike, leaseKeys: readonly string[], leaseId: string, ttlMs: number, nowMs?: number): Promise<number> {
  if (leaseKeys.length === 0) return 0;
  return redis.admissionRenew(leaseKeys.length, ...leaseKeys, leaseId, ttlMs, nowMs === undefined ? '' : nowMs);
}

/**
 * Raises the quota counters of one hash to at least `counts` (field → count); never lowers
 * one. Returns how many were raised. See quota-raise.lua.
 */
export async function raiseQuotas(redis: RedisLike, key: string, counts: ReadonlyMap<string, number>, ttlMs: number): Promise<number> {
  if (counts.size === 0) return 0;
  const pairs: Array<string | number> = [];
  for (const [field, n] of counts) pairs.push(field, n);
  return redis.quotaRaise(key, ttlMs, ...pairs);
}
