import type { Tracer } from '@opentelemetry/api';
import type { FastifyBaseLogger } from 'fastify';
import { calendarPeriods, otherMethodLevels, quotaPeriods, toolCallLevels, type AdmissionLevel, type QuotaPeriods, type RefusalReason } from '../../../core/admission/levels.js';
import { sequentialId } from '../../../core/ids.js';
import type { Principal } from '../../../core/principal.js';
import type { ToolDefinition } from '../../../core/tools/define.js';
import { prepareAcquire, release, renew, type PreparedAcquire, type QuotaRef, type RedisLike } from '../../../platform/redis/commands.js';
import { AdmissionBatcher } from './admission-batcher.js';
import type { Metrics } from '../observability/metrics.js';
import { withSpan } from '../observability/spans.js';
import type { CircuitBreaker, RedisOutcome } from './circuit-breaker.js';
import type { FallbackLimiter } from './fallback-limiter.js';
import type { GlobalPool } from './global-pool.js';

/** A call admitted past its quota under a `soft` or `overage` policy. */
export interface OverQuota {
  readonly reason: 'quota_daily' | 'quota_monthly';
  readonly policy: 'soft' | 'overage';
  readonly limit: number;
}

/** What an admitted call holds until it ends: leases to release, quota units to refund on failure. */
export interface Permit {
  /** The call's id: unique across gateways; its lease record and its usage record carry it. */
  readonly callId: string;
  readonly principal: Principal;
  readonly mode: 'redis' | 'fallback';
  readonly leaseKeys: readonly string[];
  /** The quota counters this call charged (refunded if it fails). */
  readonly quotas: readonly QuotaRef[];
  readonly overQuota: readonly OverQuota[];
  /** The per-key rate limit and what is left of it (RateLimit headers). */
  readonly limit: number;
  readonly remaining: number;
}

export interface Refusal {
  readonly code: 'RATE_LIMITED' | 'QUOTA_EXCEEDED' | 'SERVICE_UNAVAILABLE';
  readonly reason: RefusalReason;
  readonly scope: AdmissionLevel['scope'] | 'tier';
  readonly period?: AdmissionLevel['period'];
  readonly limit: number;
  readonly remaining: number;
  readonly retryAfterMs: number;
}

export type AdmissionDecision = { readonly ok: true; readonly permit: Permit } | { readonly ok: false; readonly refusal: Refusal };

export interface AdmissionRequest {
  readonly principal: Principal;
  readonly ip: string;
  /** The tool of a tools/call; absent for cheap methods (tools/list, ping, ...). */
  readonly tool?: ToolDefinition;
  /** The call's id when the client named the call (idempotency key); otherwise a fresh one. */
  readonly callId?: string;
}

export interface AdmissionDeps {
  readonly redis: RedisLike;
  readonly pool: GlobalPool;
  readonly breaker: CircuitBreaker;
  readonly fallback: FallbackLimiter;
  readonly metrics: Metrics;
  readonly log: FastifyBaseLogger;
  readonly leaseTtlMs: number;
  /** false only for benchmarks measuring admission's cost (TOLLGATE_ADMISSION=off). */
  readonly enforce: boolean;
  /** Tracing on: each decision is an `admission` span (undefined: off, no spans). */
  readonly tracer?: Tracer;
}

/**
 * What a call of one shape (key, IP, tool group; under one plan and billing period) must
 * pass, with the script arguments already packed. Everything in it depends on the time only
 * through the quota periods, which change once a second: one shape serves a second's calls.
 */
interface CallShape {
  readonly plan: Principal['plan'];
  readonly period: Principal['billingPeriod'];
  readonly levels: readonly AdmissionLevel[];
  readonly prepared: PreparedAcquire;
  readonly leaseKeys: readonly string[];
  readonly quotas: readonly QuotaRef[];
}

/** Call shapes kept within one second, at most (a safety bound: one per key, IP and group in use). */
const MAX_SHAPES = 10_000;

/** Tiers that fail closed (refuse) when Redis cannot decide; the others fall back in process. */
const FAIL_CLOSED_TIERS = new Set(['free']);

/**
 * Admits or refuses a call before any tool work, in one Redis round trip on the
 * organization's slot (plus, once per batch, a lease from the tier's global pool); calls of
 * one shape arriving in one event-loop turn share that round trip, and the releases of the
 * organization's calls that ended in that turn ride along (AdmissionBatcher).
 * Denials are values; the transports turn them into HTTP 429s or JSON-RPC errors.
 */
export class Admission {
  private readonly batcher: AdmissionBatcher;

  constructor(private readonly deps: AdmissionDeps) {
    this.batcher = new AdmissionBatcher(deps.redis, (calls) => deps.metrics.admissionBatchCalls.observe(calls));
  }

  /** Decides; with tracing on, as an `admission` span saying how (Redis or fallback) and what was decided. */
  admit(req: AdmissionRequest): Promise<AdmissionDecision> {
    if (!this.deps.tracer) return this.decide(req);
    const attributes = { 'tollgate.tier': req.principal.plan.id, 'tollgate.admission.kind': req.tool ? 'tools/call' : 'other', ...(req.tool ? { 'tollgate.tool': req.tool.name } : {}) };
    return withSpan(this.deps.tracer, 'admission', attributes, async (span) => {
      const decision = await this.decide(req);
      span?.setAttributes(
        decision.ok
          ? { 'tollgate.admission.outcome': 'admitted', 'tollgate.admission.mode': decision.permit.mode, 'tollgate.call_id': decision.permit.callId }
          : { 'tollgate.admission.outcome': 'refused', 'tollgate.admission.reason': decision.refusal.reason },
      );
      return decision;
    });
  }

  private async decide(req: AdmissionRequest): Promise<AdmissionDecision> {
    const { principal } = req;
    if (!this.deps.enforce) return { ok: true, permit: this.fallbackPermit(principal, false) };
    const tier = principal.plan.id;
    const kind = req.tool ? 'tools/call' : 'other';
    const { breaker, metrics } = this.deps;
    // Open breaker: no Redis, except the one probe per cool-down (whatever its tier, so
    // recovery never waits for paid traffic).
    if (!breaker.mayCallRedis()) return this.withoutRedis(req, kind);
    if (breaker.state === 'shedding' && FAIL_CLOSED_TIERS.has(tier)) {
      return this.refused({ code: 'RATE_LIMITED', reason: 'global', scope: 'tier', limit: 0, remaining: 0, retryAfterMs: 1_000 }, tier, kind);
    }
    const shape = this.shapeOf(req);
    const { levels } = shape;

    let pooled = false;
    const callId = req.callId ?? sequentialId('call');
    const started = performance.now();
    try {
      if (req.tool) {
        pooled = await this.deps.pool.take(tier, principal.plan.limits.globalPool.perSecond);
        if (!pooled) {
          this.recordRedis(started, 'ok');
          return this.refused({ code: 'RATE_LIMITED', reason: 'global', scope: 'tier', limit: principal.plan.limits.globalPool.perSecond, remaining: 0, retryAfterMs: 1_000 - (Date.now() % 1_000) }, tier, kind);
        }
      }
      const r = await this.batcher.acquire(shape.prepared, callId);
      this.recordRedis(started, 'ok');
      if (!r.admitted) {
        if (pooled) this.deps.pool.giveBack(tier);
        const level = levels[r.refusingLevel]!;
        if (level.kind === 'quota') metrics.quotaExhaustions.inc({ period: level.period ?? 'day', tier, policy: 'block' });
        const code = level.kind === 'quota' ? 'QUOTA_EXCEEDED' : 'RATE_LIMITED';
        return this.refused({ code, reason: level.reason, scope: level.scope, ...(level.period ? { period: level.period } : {}), limit: r.limit, remaining: r.remaining, retryAfterMs: r.retryAfterMs }, tier, kind);
      }
      const overQuota = r.overQuota.map((i) => {
        const level = levels[i]!;
        metrics.quotaExhaustions.inc({ period: level.period ?? 'day', tier, policy: level.policy });
        return { reason: level.reason as OverQuota['reason'], policy: level.policy as OverQuota['policy'], limit: level.limit };
      });
      metrics.admissionDecisions.inc({ tier, kind, outcome: 'admitted' });
      return {
        ok: true,
        permit: {
          callId,
          principal,
          mode: 'redis',
          leaseKeys: shape.leaseKeys,
          quotas: shape.quotas,
          overQuota,
          limit: r.limit,
          remaining: r.remaining,
        },
      };
    } catch (err) {
      if (pooled) this.deps.pool.giveBack(tier);
      if (isTimeout(err)) {
        // Slow, not down: refuse this one call (it may even have been charged) rather
        // than admit it unchecked. Timeouts make the breaker shed Free traffic.
        this.recordRedis(started, 'timeout');
        this.deps.log.warn({ tier }, 'admission timed out');
        return this.refused({ code: 'SERVICE_UNAVAILABLE', reason: 'global', scope: 'tier', limit: 0, remaining: 0, retryAfterMs: 1_000 }, tier, kind);
      }
      this.recordRedis(started, 'error');
      this.deps.log.warn({ err, tier }, 'admission could not reach Redis');
      return this.withoutRedis(req, kind);
    }
  }

  /**
   * Ends an admitted call: releases its leases; a failed call gets its quota units back.
   * `keepLeases`: a repeated request that joined a call still running gives back only its
   * charge (the leases, held under the same call id, are the running call's).
   */
  async release(permit: Permit, outcome: { failed: boolean; keepLeases?: boolean }): Promise<void> {
    if (permit.mode === 'fallback') {
      this.deps.fallback.end(permit.principal);
      return;
    }
    const leaseKeys = outcome.keepLeases ? [] : permit.leaseKeys;
    try {
      const hash = leaseKeys[0];
      if (!outcome.failed && hash !== undefined && leaseKeys.length === 1) {
        // The common case, batched per event-loop turn: a successful call, one lease record.
        if (!(await this.batcher.release(hash, permit.callId))) this.deps.metrics.leasesLost.inc();
        return;
      }
      const released = await release(this.deps.redis, leaseKeys, outcome.failed ? permit.quotas : [], permit.callId);
      if (released < leaseKeys.length) this.deps.metrics.leasesLost.inc(leaseKeys.length - released);
    } catch (err) {
      // The leases expire by themselves after their TTL; a lost refund is logged.
      this.deps.log.warn({ err, refund: outcome.failed }, 'admission release failed');
    }
  }

  /**
   * On shutdown, once calls have ended: sends the decisions and releases still gathered for
   * Redis and waits for them; from then on nothing waits for a ride.
   */
  close(): Promise<void> {
    return this.batcher.close();
  }

  /** Keeps a long call's leases alive; call every third of the lease TTL. */
  async renew(permit: Permit): Promise<void> {
    if (permit.mode !== 'redis' || permit.leaseKeys.length === 0) return;
    try {
      const held = await renew(this.deps.redis, permit.leaseKeys, permit.callId, this.deps.leaseTtlMs);
      if (held < permit.leaseKeys.length) this.deps.metrics.leasesLost.inc(permit.leaseKeys.length - held);
    } catch (err) {
      this.deps.log.warn({ err }, 'lease renewal failed');
    }
  }

  private shapes = new Map<string, CallShape>();
  private shapesSecond = -1;

  /** The levels and prepared script arguments of `req`'s shape, built at most once a second. */
  private shapeOf(req: AdmissionRequest): CallShape {
    const { principal } = req;
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.shapesSecond || this.shapes.size >= MAX_SHAPES) {
      this.shapes.clear();
      this.shapesSecond = second;
    }
    // A key belongs to one user and organization for good; its plan and period may change.
    const id = `${principal.keyId} ${req.tool?.group ?? '-'} ${req.ip}`;
    const cached = this.shapes.get(id);
    if (cached && cached.plan === principal.plan && cached.period === principal.billingPeriod) return cached;
    const levels = req.tool
      ? toolCallLevels({ orgId: principal.orgId, userId: principal.userId, keyId: principal.keyId, ip: req.ip, plan: principal.plan, group: req.tool.group }, this.periods(principal))
      : otherMethodLevels({ orgId: principal.orgId, keyId: principal.keyId, plan: principal.plan });
    const shape: CallShape = {
      plan: principal.plan,
      period: principal.billingPeriod,
      levels,
      prepared: prepareAcquire(levels, this.deps.leaseTtlMs),
      // One lease record per call, in the admission hash, holds every concurrency level.
      leaseKeys: levels.some((l) => l.kind === 'lease') ? [levels[0]!.key] : [],
      quotas: levels.filter((l) => l.kind === 'quota').map((l) => ({ key: l.key, field: l.field })),
    };
    this.shapes.set(id, shape);
    return shape;
  }

  private cachedPeriods: { second: number; periods: QuotaPeriods } | undefined;

  /** The caller's quota periods now (the calendar part computed once per second). */
  private periods(principal: Principal): QuotaPeriods {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (this.cachedPeriods?.second !== second) this.cachedPeriods = { second, periods: calendarPeriods(second * 1000) };
    return principal.billingPeriod ? quotaPeriods(now, principal.billingPeriod, this.cachedPeriods.periods) : this.cachedPeriods.periods;
  }

  get leaseTtlMs(): number {
    return this.deps.leaseTtlMs;
  }

  /** Redis is down or the breaker is open: Free fails closed, the other tiers fall back in process. */
  private withoutRedis(req: AdmissionRequest, kind: string): AdmissionDecision {
    const { principal } = req;
    const tier = principal.plan.id;
    const { metrics } = this.deps;
    if (FAIL_CLOSED_TIERS.has(tier)) {
      metrics.admissionFailOpen.inc({ tier, outcome: 'closed_refused' });
      return this.refused({ code: 'SERVICE_UNAVAILABLE', reason: 'global', scope: 'tier', limit: 0, remaining: 0, retryAfterMs: 2_000 }, tier, kind);
    }
    if (!req.tool) {
      metrics.admissionFailOpen.inc({ tier, outcome: 'fallback_admitted' });
      return { ok: true, permit: this.fallbackPermit(principal, false) };
    }
    const refused = this.deps.fallback.take(principal);
    if (refused) {
      metrics.admissionFailOpen.inc({ tier, outcome: 'fallback_refused' });
      return this.refused({ code: 'RATE_LIMITED', reason: refused.refused, scope: refused.refused === 'rate' ? 'key' : 'user', limit: 0, remaining: 0, retryAfterMs: refused.retryAfterMs }, tier, kind);
    }
    metrics.admissionFailOpen.inc({ tier, outcome: 'fallback_admitted' });
    metrics.admissionDecisions.inc({ tier, kind, outcome: 'fallback_admitted' });
    return { ok: true, permit: this.fallbackPermit(principal, true) };
  }

  private fallbackPermit(principal: Principal, holdsSlot: boolean): Permit {
    const base = { callId: sequentialId('call'), principal, leaseKeys: [], quotas: [], overQuota: [], limit: 0, remaining: 0 };
    return holdsSlot ? { ...base, mode: 'fallback' } : { ...base, mode: 'redis' };
  }

  private refused(refusal: Refusal, tier: string, kind: string): AdmissionDecision {
    this.deps.metrics.admissionRefusals.inc({ reason: refusal.reason, tier });
    this.deps.metrics.admissionDecisions.inc({ tier, kind, outcome: 'refused' });
    return { ok: false, refusal };
  }

  private recordRedis(started: number, outcome: RedisOutcome): void {
    const ms = performance.now() - started;
    this.deps.metrics.admissionRedisSeconds.observe(ms / 1000);
    if (outcome !== 'ok') this.deps.metrics.admissionRedisErrors.inc({ kind: outcome });
    this.deps.breaker.record(ms, outcome);
  }
}

/** ioredis' command timeout (`commandTimeout`), as opposed to a connection failure. */
function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === 'Command timed out';
}
