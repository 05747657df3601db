import type { Plan, QuotaPolicy } from '../plans.js';
import { admissionFields as fields, redisKeys } from '../redis-keys.js';
import type { ToolGroup } from '../tools/define.js';

/** Why a call was refused: the stable `data.reason` of refusals. */
export type RefusalReason = 'rate' | 'burst' | 'concurrency' | 'quota_daily' | 'quota_monthly' | 'ip' | 'global';

/**
 * A sliding window is a `window` (a ring of call times: exact, for a burst of at most
 * RING_MAX_CALLS) or a `counted-window` (calls per hundredth of the window: any burst, in a
 * few KB; a call leaves it up to a hundredth of the window late, never early).
 */
export type LevelKind = 'bucket' | 'window' | 'counted-window' | 'lease' | 'quota';

/** One limit a call must pass, as the admission script takes it. */
export interface AdmissionLevel {
  readonly reason: RefusalReason;
  /** Whose limit it is, for messages: "per API key", "per user", ... */
  readonly scope: 'key' | 'user' | 'organization' | 'ip';
  readonly kind: LevelKind;
  readonly key: string;
  /** Its field in `key`. */
  readonly field: string;
  readonly limit: number;
  /** bucket: refill period ms; window: window ms; quota: TTL ms of the quota hash; lease: unused. */
  readonly p1: number;
  /** quota: ms until the quota resets. */
  readonly p2: number;
  readonly policy: QuotaPolicy;
  /** The period a quota counts over, in words ("day", "month"). */
  readonly period?: 'minute' | 'second' | 'day' | 'month';
}

export interface CallDescription {
  readonly orgId: string;
  readonly userId: string;
  readonly keyId: string;
  readonly ip: string;
  readonly plan: Plan;
  readonly group: ToolGroup;
}

/** The quota periods a call counts against: the UTC day and the billing month. */
export interface QuotaPeriods {
  /** e.g. `d:2026-11-21` */
  readonly dayId: string;
  readonly msToDayEnd: number;
  /** The billing period: `p:<start>` from the subscription, or the calendar month `m:2026-11`. */
  readonly monthId: string;
  readonly msToMonthEnd: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** The UTC day and calendar month containing `now`. */
export function calendarPeriods(now: number): QuotaPeriods {
  const d = new Date(now);
  const dayStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const monthEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  const iso = d.toISOString();
  return { dayId: `d:${iso.slice(0, 10)}`, msToDayEnd: dayStart + DAY - now, monthId: `m:${iso.slice(0, 7)}`, msToMonthEnd: monthEnd - now };
}

/** An organization's current billing period, as the subscription says (its quota period). */
export interface BillingPeriod {
  /** `p:<start, ISO 8601>`: names the period's quota hash; a new period starts from zero. */
  readonly id: string;
  readonly endMs: number;
}

export function billingPeriod(startMs: number, endMs: number): BillingPeriod {
  return { id: `p:${new Date(startMs).toISOString()}`, endMs };
}

/**
 * The periods of a call: the UTC day, and the organization's billing period when known
 * (the calendar month otherwise). A period past its end keeps counting until the
 * subscription workflow opens the next one; its reset hint is then a minute.
 */
export function quotaPeriods(now: number, period?: BillingPeriod, calendar: QuotaPeriods = calendarPeriods(now)): QuotaPeriods {
  if (!period) return calendar;
  return { dayId: calendar.dayId, msToDayEnd: calendar.msToDayEnd, monthId: period.id, msToMonthEnd: Math.max(MINUTE, period.endMs - now) };
}

/** Field names of the quota counters in an organization's period hash (see `redisKeys.quotas`). */
export const quotaFields = {
  userDay: (userId: string, dayId: string): string => `u:${userId}:${dayId}`,
  orgDay: (dayId: string): string => `o:${dayId}`,
  expensiveDay: (userId: string, dayId: string): string => `x:${userId}:${dayId}`,
  userPeriod: (userId: string): string => `u:${userId}`,
  orgPeriod: 'o',
} as const;

/**
 * Every level a tools/call must pass, in the order refusals are reported: rates first
 * (key, user, burst, organization, IP, expensive), then concurrency, then quotas. Keys
 * share the organization's hash tag, so one script call decides them all. Free stops
 * hard at a quota whatever its data says; other plans follow their quota policy.
 */
export function toolCallLevels(call: CallDescription, periods: QuotaPeriods): AdmissionLevel[] {
  const { orgId, userId, keyId, ip, plan } = call;
  const l = plan.limits;
  const tier = plan.id;
  const quotaPolicy: QuotaPolicy = tier === 'free' ? 'block' : plan.quotaPolicy;
  const expensive = call.group === 'expensive';
  const hash = redisKeys.admission(orgId);
  const levels: AdmissionLevel[] = [
    bucket('rate', 'key', hash, l.perKey.perMinute, fields.keyRate(keyId, tier)),
    bucket('rate', 'user', hash, l.perUser.perMinute, fields.userRate(userId, tier)),
    burst(hash, userId, tier, l.burst),
    bucket('rate', 'organization', hash, l.perOrg.perMinute, fields.orgRate(tier)),
    bucket('ip', 'ip', hash, l.perIp.perMinute, fields.ipRate(ip, tier)),
  ];
  if (expensive) levels.push(bucket('rate', 'user', hash, l.expensive.perMinute, fields.expensiveRate(userId, tier)));
  levels.push(lease('user', hash, l.perUser.concurrent, fields.userConcurrency(userId)), lease('organization', hash, l.perOrg.concurrent, fields.orgConcurrency));
  if (expensive) levels.push(lease('user', hash, l.expensive.concurrent, fields.expensiveConcurrency(userId)));
  const quotaKey = redisKeys.quotas(orgId, periods.monthId);
  // One hash per period holds every counter; it lives until a day after the period ends.
  const quotaTtl = periods.msToMonthEnd + DAY;
  const quota = (reason: 'quota_daily' | 'quota_monthly', field: string, limit: number, scope: AdmissionLevel['scope']): AdmissionLevel => ({
    reason,
    scope,
    kind: 'quota',
    key: quotaKey,
    field,
    limit,
    p1: quotaTtl,
    p2: reason === 'quota_daily' ? periods.msToDayEnd : periods.msToMonthEnd,
    policy: quotaPolicy,
    period: reason === 'quota_daily' ? 'day' : 'month',
  });
  levels.push(
    quota('quota_daily', quotaFields.userDay(userId, periods.dayId), l.perUser.perDay, 'user'),
    quota('quota_daily', quotaFields.orgDay(periods.dayId), l.perOrg.perDay, 'organization'),
  );
  if (expensive) levels.push(quota('quota_daily', quotaFields.expensiveDay(userId, periods.dayId), l.expensive.perDay, 'user'));
  levels.push(quota('quota_monthly', quotaFields.userPeriod(userId), l.perUser.perMonth, 'user'), quota('quota_monthly', quotaFields.orgPeriod, l.perOrg.perMonth, 'organization'));
  return levels;
}

/** The one level of cheap methods (tools/list, ping, ...): a generous per-key rate. */
export function otherMethodLevels(call: Omit<CallDescription, 'group' | 'ip' | 'userId'>): AdmissionLevel[] {
  return [bucket('rate', 'key', redisKeys.admission(call.orgId), call.plan.limits.otherMethodsPerMinute, fields.otherMethodsRate(call.keyId, call.plan.id))];
}

/**
 * The largest burst kept as a ring of call times (exact, at most 8 bytes a call); a larger
 * one is counted per hundredth of its window (at most 101 slots of 16 bytes).
 */
export const RING_MAX_CALLS = 64;

/** The per-user burst window, in the admission hash: a ring, or a counted ring when large. */
function burst(hash: string, userId: string, tier: string, b: { max: number; windowMs: number }): AdmissionLevel {
  const base = { reason: 'burst', scope: 'user', key: hash, limit: b.max, p1: b.windowMs, p2: 0, policy: 'block' } as const;
  return b.max <= RING_MAX_CALLS
    ? { ...base, kind: 'window', field: fields.userBurst(userId, tier, b.windowMs) }
    : { ...base, kind: 'counted-window', field: fields.userCountedBurst(userId, tier, b.windowMs) };
}

function bucket(reason: RefusalReason, scope: AdmissionLevel['scope'], key: string, perMinute: number, field: string): AdmissionLevel {
  return { reason, scope, kind: 'bucket', key, field, limit: perMinute, p1: MINUTE, p2: 0, policy: 'block', period: 'minute' };
}

function lease(scope: AdmissionLevel['scope'], key: string, limit: number, field: string): AdmissionLevel {
  return { reason: 'concurrency', scope, kind: 'lease', key, field, limit, p1: 0, p2: 0, policy: 'block' };
}
