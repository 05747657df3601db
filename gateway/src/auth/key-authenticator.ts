import type { KeyId, OrgId, UserId } from '../../../core/ids.js';
import { billingPeriod, type BillingPeriod } from '../../../core/admission/levels.js';
import type { Principal } from '../../../core/principal.js';
import { AppError } from '../../../core/errors.js';
import type { Pool } from '../../../platform/pg/pool.js';
import { parseApiKey, secretMatches } from '../../../platform/tenancy/api-keys.js';
import { findKeyByPrefix, type StoredKey } from '../../../platform/tenancy/key-lookup.js';
import type { PlanCache } from './plan-cache.js';

interface CacheEntry {
  readonly key: (StoredKey & { readonly period: BillingPeriod }) | null;
  readonly loadedAt: number;
}

/**
 * Resolves a presented API key to a Principal. Lookups are cached per prefix for
 * `ttlMs` (including misses, so a flood of bad keys costs one query per prefix), and the
 * secret is always verified against the stored hash in constant time. The plan comes
 * from the PlanCache at call time, so plan edits apply without waiting for this cache.
 */
export class KeyAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<CacheEntry['key']>>();
  /** Bumped by every invalidation: a lookup that started before one must not refill the cache. */
  private generation = 0;

  constructor(
    private readonly pool: Pool,
    private readonly plans: PlanCache,
    private readonly ttlMs: number,
    /** Told about every successful authentication (last-used batching). */
    private readonly onUse: (keyId: string) => void = () => {},
    private readonly maxEntries = 100_000,
  ) {}

  /** The principal for `rawKey`, or an UNAUTHENTICATED AppError (same message for every failure). */
  async authenticate(rawKey: string, now = Date.now()): Promise<Principal> {
    const parsed = parseApiKey(rawKey);
    if (!parsed) throw unauthenticated();
    const stored = await this.lookup(parsed.prefix, now);
    if (!stored || !secretMatches(parsed.secret, stored.secretHash)) throw unauthenticated();
    if (stored.revokedAt && stored.revokedAt.getTime() <= now) throw unauthenticated();
    if (stored.expiresAt && stored.expiresAt.getTime() <= now) throw unauthenticated();
    const plan = this.plans.get(stored.planId) ?? (await this.plans.resolve(stored.planId));
    if (!plan) throw new AppError('INTERNAL', `organization ${stored.orgId} is on unknown plan ${stored.planId}`);
    this.onUse(stored.keyId);
    return {
      userId: stored.userId as UserId,
      orgId: stored.orgId as OrgId,
      role: stored.role,
      keyId: stored.keyId as KeyId,
      keyPrefix: stored.prefix,
      scopes: stored.scopes,
      plan,
      billingPeriod: stored.period,
    };
  }

  /** Drops cached entries so the next use re-reads the database (revocations, plan moves). */
  invalidate(match: { prefix?: string; orgId?: string; keyId?: string }): void {
    this.generation++;
    if (match.prefix) this.inflight.delete(match.prefix);
    if (match.prefix) this.cache.delete(match.prefix);
    if (match.orgId || match.keyId) {
      for (const [prefix, entry] of this.cache) {
        if (entry.key && (entry.key.orgId === match.orgId || entry.key.keyId === match.keyId)) this.cache.delete(prefix);
      }
    }
  }

  private async lookup(prefix: string, now: number): Promise<CacheEntry['key']> {
    const hit = this.cache.get(prefix);
    if (hit && now - hit.loadedAt < this.ttlMs) return hit.key;
    const generation = this.generation;
    let pending = this.inflight.get(prefix);
    if (!pending) {
      pending = findKeyByPrefix(this.pool, prefix)
        // The period's id is computed once per lookup, not per call.
        .then((k) => (k ? { ...k, period: billingPeriod(k.periodStart.getTime(), k.periodEnd.getTime()) } : null))
        .catch((err: unknown) => {
          throw new AppError('UPSTREAM_UNAVAILABLE', 'the key store is unavailable', {}, { cause: err });
        })
        .finally(() => {
          if (this.inflight.get(prefix) === pending) this.inflight.delete(prefix);
        });
      this.inflight.set(prefix, pending);
    }
    const key = await pending;
    // A row read before an invalidation may predate the change: use it for this call (it
    // raced the change), but never cache it.
    if (generation !== this.generation) return key;
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(prefix, { key, loadedAt: now });
    return key;
  }
}

function unauthenticated(): AppError {
  return new AppError('UNAUTHENTICATED', 'missing, invalid, expired or revoked API key');
}
