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
  admissionReleaseMany: { numberOfKeys: 1, lua: script('admission-release-many') },
  admissionRenew: { numberOfKeys: 1, lua: script('admission-renew') },
  legacyReleaseZsets: { lua: script('legacy-release-zsets') },
  legacyRenewZsets: { lua: script('legacy-renew-zsets') },
  poolLease: { numberOfKeys: 1, lua: script('pool-lease') },
  quotaRaise: { numberOfKeys: 1, lua: script('quota-raise') },
} as const;

/**
 * Per call, one after another: admitted 1, remaining, over-quota bitmask; refused 0, level
 * (1-based), limit, remaining, retryAfterMs.
 */
type AcquireReply = number[];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Keys count first (`numberOfKeys` varies per call), then keys, then ARGV. */
    admissionAcquire(numberOfKeys: number, ...keysAndArgs: Array<string | number | Buffer>): Result<AcquireReply, Context>;
    admissionRelease(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
    admissionReleaseMany(hashKey: string, nowMs: number | '', ...leaseIds: string[]): Result<number, Context>;
    admissionRenew(hashKey: string, leaseId: string, ttlMs: number, nowMs: number | ''): Result<number, Context>;
    legacyReleaseZsets(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
    legacyRenewZsets(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
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

/**
 * One level of an admission decision, as the acquire script takes it. Every level but a
 * quota lives in the organization's admission hash (`key`, one per organization), under its
 * own `field`; quotas live in the period's quota hash (see admission-acquire.lua). A sliding
 * window is kept as a ring of call times (`window`: exact, for a small limit) or of calls
 * per hundredth of the window (`counted-window`: any limit, a call leaves up to a hundredth
 * of the window late).
 */
export interface ScriptLevel {
  readonly kind: 'bucket' | 'window' | 'counted-window' | 'lease' | 'quota';
  readonly key: string;
  readonly field: string;
  readonly limit: number;
  /** bucket: refill period ms; window: window ms; quota: TTL ms of the quota hash; lease: unused. */
  readonly p1: number;
  /** quota: ms until the quota resets. */
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

/** Bytes of the packed spec's header: struct "<Bdddd" (see admission-acquire.lua). */
const HEADER_BYTES = 33;
/** Bytes per level in the packed spec: struct "<Bdd" (kind, limit, p). */
const LEVEL_BYTES = 17;
const specFormats: string[] = [];
/** The spec's struct format for `levels` levels (a handful of shapes, built once each). */
const specFormat = (levels: number): string => (specFormats[levels] ??= `<Bdddd${'Bdd'.repeat(levels)}`);
/** The script's kinds of the levels in the admission hash. */
const HASH_KIND = { bucket: 1, window: 2, 'counted-window': 3, lease: 4 } as const;
/** Quota kinds by policy. */
const QUOTA_KIND = { block: 5, soft: 6, overage: 7 } as const;
/** Buckets refill per minute; housekeeping never looks at less than that. */
const MIN_HORIZON_MS = 60_000;

/**
 * An acquire's script arguments for one call shape (its levels and lease TTL), without the
 * calls' own lease ids: building them (the packed spec, the keys, the fields) costs more than
 * sending them, so the gateway builds them once per shape and second (see Admission).
 */
export interface PreparedAcquire {
  /** numberOfKeys, then the keys. */
  readonly keys: ReadonlyArray<string | number>;
  /** The spec's format, then the spec. */
  readonly spec: readonly [string, Buffer];
  /** One field per level. */
  readonly fields: readonly string[];
  readonly levels: number;
  /** The first level's limit (an admitted call reports it with what remains of it). */
  readonly firstLimit: number;
  /**
   * The organization's admission hash when the script reads it (the first level lives
   * there): the releases of that organization's ended calls can then ride along
   * (`acquireAndRelease`).
   */
  readonly admissionHash: string | undefined;
}

/**
 * Packs `levels` for the acquire script: the call's constants go as one binary spec (Redis
 * reads it with struct.unpack in C), followed by the levels' fields; the script touches the
 * organization's admission hash and the period's quota hash, both under the organization's
 * hash tag.
 *
 * Levels must come in this shape (a programming error otherwise): every level in the
 * admission hash first, quotas last; one admission hash, one quota hash.
 */
export function prepareAcquire(levels: readonly ScriptLevel[], leaseTtlMs: number): PreparedAcquire {
  const hash = levels[0]?.key;
  if (hash === undefined) throw new Error('acquire: no levels');
  let quotaKey: string | undefined;
  let inHash = 0;
  let horizon = MIN_HORIZON_MS;
  let quotaTtl = 0;
  const fields: string[] = [];
  const spec = Buffer.allocUnsafe(HEADER_BYTES + levels.length * LEVEL_BYTES);
  levels.forEach((l, i) => {
    let kind: number;
    if (l.kind === 'quota') {
      if (quotaKey !== undefined && quotaKey !== l.key) throw new Error('acquire: quotas of two hashes');
      quotaKey = l.key;
      kind = QUOTA_KIND[l.policy];
      quotaTtl = Math.max(quotaTtl, l.p1);
    } else {
      if (quotaKey !== undefined) throw new Error('acquire: a level after the quotas');
      if (l.key !== hash) throw new Error(`acquire: ${l.kind} level outside the admission hash`);
      inHash++;
      kind = HASH_KIND[l.kind];
      if (l.kind !== 'lease') horizon = Math.max(horizon, l.p1);
    }
    fields.push(l.field);
    const at = HEADER_BYTES + i * LEVEL_BYTES;
    spec.writeUInt8(kind, at);
    spec.writeDoubleLE(l.limit, at + 1);
    // A quota's p is its reset (the retry hint); its TTL goes once, in the header.
    spec.writeDoubleLE(kind >= 5 ? l.p2 : l.p1, at + 9);
  });
  spec.writeUInt8(inHash, 0);
  spec.writeDoubleLE(leaseTtlMs, 1);
  spec.writeDoubleLE(horizon, 9);
  // The hash outlives a housekeeping (due at most a horizon later) by a horizon and a lease.
  spec.writeDoubleLE(2 * horizon + leaseTtlMs + 1_000, 17);
  spec.writeDoubleLE(quotaTtl, 25);
  // Keys: the admission hash (the quota hash for a call of quotas only), then the quota
  // hash when the call has one.
  const keys = [hash];
  if (quotaKey !== undefined) keys.push(quotaKey);
  const admissionHash = inHash > 0 ? hash : undefined;
  return { keys: [keys.length, ...keys], spec: [specFormat(levels.length), spec], fields, levels: levels.length, firstLimit: levels[0]!.limit, admissionHash };
}

/** One round trip: decide every level, charge all or none (see `prepareAcquire`). */
export async function acquire(redis: RedisLike, levels: readonly ScriptLevel[], leaseId: string, leaseTtlMs: number, nowMs?: number): Promise<AcquireResult> {
  return (await acquireManyPrepared(redis, prepareAcquire(levels, leaseTtlMs), [leaseId], nowMs))[0]!;
}

/**
 * Several calls of one shape in one script call, decided in the order of `leaseIds` (each
 * sees what the ones before it charged): the same outcomes as one `acquire` each, in
 * that order at one instant, for one round trip.
 */
export async function acquireManyPrepared(redis: RedisLike, prepared: PreparedAcquire, leaseIds: readonly string[], nowMs?: number): Promise<AcquireResult[]> {
  return (await acquireAndRelease(redis, prepared, leaseIds, [], nowMs)).results;
}

/**
 * `acquireManyPrepared`, with the releases of successful calls of the same organization
 * that ended meanwhile carried along (`releaseIds`, as `releaseMany` would end them, and
 * before the calls are decided): one script call instead of two. Releases need the shape's
 * `admissionHash`. `live`: how many of the released leases were live when released.
 */
export async function acquireAndRelease(
  redis: RedisLike,
  prepared: PreparedAcquire,
  leaseIds: readonly string[],
  releaseIds: readonly string[],
  nowMs?: number,
): Promise<{ results: AcquireResult[]; live: number }> {
  if (releaseIds.length > 0 && prepared.admissionHash === undefined) throw new Error('acquire: releases ride only with levels in the admission hash');
  const fields = [...releaseIds, ...leaseIds].map((id) => `l:${id}`);
  const reply = await redis.admissionAcquire(...(prepared.keys as [number, ...string[]]), nowMs === undefined ? '' : nowMs, ...prepared.spec, releaseIds.length, ...fields, ...prepared.fields);
  const results: AcquireResult[] = [];
  let at = 0;
  for (; results.length < leaseIds.length; at += reply[at] === 0 ? 5 : 3) results.push(acquireResult(prepared, reply, at));
  return { results, live: releaseIds.length > 0 ? reply[at]! : 0 };
}

/** The outcome of one call in the script's flat reply, starting at `at` (see AcquireReply). */
function acquireResult(prepared: PreparedAcquire, reply: AcquireReply, at: number): AcquireResult {
  if (reply[at] === 0) {
    return { admitted: false, refusingLevel: reply[at + 1]! - 1, limit: reply[at + 2]!, remaining: reply[at + 3]!, retryAfterMs: reply[at + 4]!, overQuota: [] };
  }
  const mask = reply[at + 2]!;
  const overQuota: number[] = [];
  if (mask !== 0) for (let i = 0; i < prepared.levels; i++) if (mask & (1 << i)) overQuota.push(i);
  return { admitted: true, refusingLevel: -1, limit: prepared.firstLimit, remaining: reply[at + 1]!, retryAfterMs: 0, overQuota };
}

/** Lease keys of the layout before the admission hash: one sorted set per scope (`…:conc:…`). */
const isLegacyLeaseKey = (key: string) => key.includes(':conc:');

/**
 * Ends a call: drops its lease (the admission hash named in `leaseKeys`; none for a retry
 * that joined a running call) and, when it failed, refunds its quota counters. Refunds
 * happen once: a repeated release finds no lease and refunds nothing. Returns how many
 * leases were live when released.
 */
export async function release(redis: RedisLike, leaseKeys: readonly string[], refunds: readonly QuotaRef[], leaseId: string, nowMs?: number): Promise<number> {
  const now = nowMs === undefined ? '' : nowMs;
  if (leaseKeys.some(isLegacyLeaseKey)) {
    const keys = [...leaseKeys];
    const refs: Array<[number, string]> = [];
    for (const r of refunds) {
      let k = keys.indexOf(r.key);
      if (k < 0) k = keys.push(r.key) - 1;
      refs.push([k + 1, r.field]);
    }
    return redis.legacyReleaseZsets(keys.length, ...keys, leaseId, leaseKeys.length, now, JSON.stringify(refs));
  }
  const hash = leaseKeys[0] ?? refunds[0]?.key;
  if (hash === undefined) return 0;
  const keys = [hash];
  const refs: Array<string | number> = [];
  for (const r of refunds) {
    let k = keys.indexOf(r.key);
    if (k < 0) k = keys.push(r.key) - 1;
    refs.push(k + 1, r.field);
  }
  return redis.admissionRelease(keys.length, ...keys, leaseId, now, leaseKeys.length > 0 ? '1' : '0', ...refs);
}

/**
 * Ends several successful calls of one organization in one script call (no refunds):
 * returns how many of their leases were live when released.
 */
export async function releaseMany(redis: RedisLike, hashKey: string, leaseIds: readonly string[], nowMs?: number): Promise<number> {
  if (leaseIds.length === 0) return 0;
  return redis.admissionReleaseMany(hashKey, nowMs === undefined ? '' : nowMs, ...leaseIds);
}

/** Extends a running call's lease; returns how many leases were still held (an expired one is not revived). */
export async function renew(redis: RedisLike, leaseKeys: readonly string[], leaseId: string, ttlMs: number, nowMs?: number): Promise<number> {
  const hash = leaseKeys[0];
  if (hash === undefined) return 0;
  const now = nowMs === undefined ? '' : nowMs;
  if (leaseKeys.some(isLegacyLeaseKey)) return redis.legacyRenewZsets(leaseKeys.length, ...leaseKeys, leaseId, ttlMs, now);
  return redis.admissionRenew(hash, leaseId, ttlMs, now);
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
