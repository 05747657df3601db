import type { z } from 'zod';
import type { Plan } from '../../core/plans.js';
import type { AuditOut, KeyOut, MemberOut, NewKeyOut, OrgOut, RotatedKeyOut, UsageOut, UserOut } from '../../gateway/src/accounts/schemas.js';
import type { ChangeOut, SubscriptionOut } from '../../gateway/src/billing/subscription-routes.js';
import { dotted, when, type Printer } from './output.js';

/**
 * Human renderings of admin API responses. The types come from the API's own schemas, so
 * a changed response shape fails the type check here instead of printing `undefined`.
 */
export type Org = z.infer<typeof OrgOut>;
export type Member = z.infer<typeof MemberOut>;
export type Key = z.infer<typeof KeyOut>;
export type NewKey = z.infer<typeof NewKeyOut>;
export type RotatedKey = z.infer<typeof RotatedKeyOut>;
export type User = z.infer<typeof UserOut>;
export type AuditEntry = z.infer<typeof AuditOut>;
export type PlanChange = z.infer<typeof ChangeOut>;
export type Subscription = z.infer<typeof SubscriptionOut>;
export type { Plan };

export function showPlans(out: Printer, plans: readonly Plan[]): void {
  out.table(
    ['ID', 'NAME', 'RANK', 'PER KEY/MIN', 'QUOTA', 'CACHE TTL', 'TOOLS'],
    plans.map((p) => [p.id, p.name, String(p.rank), String(p.limits.perKey.perMinute), p.quotaPolicy, `${p.cacheTtlSeconds} s`, tools(p)]),
  );
}

export function showPlan(out: Printer, p: Plan): void {
  out.line(`${p.id}  ${p.name}`);
  out.fields([
    ['rank', String(p.rank)],
    ['quotaPolicy', p.quotaPolicy],
    ['cacheTtlSeconds', String(p.cacheTtlSeconds)],
    ['allowedTools', tools(p)],
    ...dotted(p.limits, 'limits'),
  ]);
}

const tools = (p: Plan) => (p.allowedTools === null ? '(catalog default)' : p.allowedTools.join(',') || '(none)');

export function showOrgs(out: Printer, body: { organizations: readonly Org[]; next: string | null }): void {
  out.table(
    ['ID', 'NAME', 'PLAN', 'PERSONAL', 'CREATED'],
    body.organizations.map((o) => [o.id, o.name, o.plan.id, o.personal ? 'yes' : 'no', when(o.createdAt)]),
  );
  if (body.next) out.line(`more: --after ${body.next}`);
}

export function showOrg(out: Printer, o: Org): void {
  const s = o.subscription;
  out.line(`${o.id}  ${o.name}`);
  out.fields([
    ['plan', `${o.plan.id} (${o.plan.name})${s.pendingPlanId ? `, changing to ${s.pendingPlanId}` : ''}`],
    ['subscription', `${s.status}, period ${when(s.currentPeriodStart)} to ${when(s.currentPeriodEnd)}`],
    ['personal', o.personal ? 'yes' : 'no'],
    ['created', when(o.createdAt)],
  ]);
}

export function showMembers(out: Printer, members: readonly Member[]): void {
  out.table(
    ['USER', 'EMAIL', 'NAME', 'ROLE', 'JOINED'],
    members.map((m) => [m.userId, m.email, m.name, m.role, when(m.joinedAt)]),
  );
}

export function showMember(out: Printer, m: Member, verb: string): void {
  out.line(`${verb} ${m.userId} <${m.email}> as ${m.role}`);
}

/** Keys are shown by their public prefix only; the list carries no secret to show. */
export function showKeys(out: Printer, keys: readonly Key[]): void {
  out.table(
    ['ID', 'KEY', 'NAME', 'USER', 'SCOPES', 'STATUS', 'LAST USED', 'EXPIRES'],
    keys.map((k) => [k.id, `tg_${k.prefix}…`, k.name, k.userId, k.scopes.join(','), k.status, when(k.lastUsedAt, 'never'), when(k.expiresAt, 'never')]),
  );
}

export function showKey(out: Printer, k: Key, verb: string): void {
  out.line(`${verb} ${k.id} (tg_${k.prefix}…, "${k.name}")`);
  out.fields([
    ['status', k.status],
    ['user', k.userId],
    ['scopes', k.scopes.join(',')],
    ['expires', when(k.expiresAt, 'never')],
    ...(k.revokedAt ? ([['revoked', when(k.revokedAt)]] as const) : []),
  ]);
}

/** The one place a key secret is printed: right after creation, labelled so nobody mistakes it for an id. */
export function showNewKey(out: Printer, body: NewKey | RotatedKey, verb: string): void {
  showKey(out, body.key, verb);
  if ('previous' in body) out.line(`  previous key ${body.previous.id} (tg_${body.previous.prefix}…) works until ${when(body.previous.expiresAt, 'it is revoked')}`);
  out.line();
  out.line(`  API key (shown once, store it now): ${body.secret}`);
}

export function showUser(out: Printer, u: User, note = ''): void {
  out.line(`${u.id}  ${u.name} <${u.email}>${note}`);
  out.fields([
    ['personal org', u.personalOrgId],
    ['created', when(u.createdAt)],
  ]);
  out.line();
  out.table(
    ['ORG', 'NAME', 'ROLE'],
    u.memberships.map((m) => [m.orgId, m.orgName, m.role]),
  );
}

export function showAudit(out: Printer, entries: readonly AuditEntry[]): void {
  out.table(
    ['ID', 'TIME', 'ORG', 'ACTOR', 'ACTION', 'TARGET', 'REQUEST'],
    entries.map((e) => [e.id, when(e.createdAt), e.orgId ?? '-', `${e.actor.type}:${e.actor.id}`, e.action, `${e.targetType}${e.targetId ? `:${e.targetId}` : ''}`, e.requestId ?? '-']),
  );
}

export type Usage = z.infer<typeof UsageOut>;

export function showUsage(out: Printer, u: Usage): void {
  const t = u.totals;
  out.line(`usage ${u.from} … ${u.to} (UTC days; rollups as of ${u.asOf ? when(u.asOf) : 'never: no rollup has run yet'})`);
  out.line(`total: ${t.calls} calls, ${t.okCalls} ok, ${t.errorCalls} failed, ${t.units} units, ${t.overageUnits} overage`);
  out.table(
    ['DAY', 'USER', 'TOOL', 'CALLS', 'OK', 'FAILED', 'UNITS', 'OVERAGE', 'AVG MS', 'MAX MS'],
    u.days.map((d) => [d.day, d.userId, d.tool, String(d.calls), String(d.okCalls), String(d.errorCalls), String(d.units), String(d.overageUnits), String(d.avgLatencyMs), String(d.maxLatencyMs)]),
  );
}

export function showPlanChange(out: Printer, c: PlanChange): void {
  if (c.status === 'pending') {
    out.line(`plan change ${c.changeId} is still running; follow it with: org plan-change <orgId> ${c.changeId}`);
    return;
  }
  const what =
    c.applied === 'now'
      ? `now on ${c.to} (was ${c.from}); the new limits are live`
      : c.applied === 'at_period_end'
        ? `moves from ${c.from} to ${c.to} when the period ends (${when(c.effectiveAt ?? null)}); cancel with: org cancel-downgrade ${c.orgId}`
        : `stays on ${c.to}${c.pendingPlanId ? `, changing to ${c.pendingPlanId} at the period's end` : ''}`;
  out.line(`${c.orgId} ${what}`);
  out.fields([['change', c.changeId]]);
}

export function showSubscription(out: Printer, s: Subscription): void {
  out.line(`${s.orgId}  ${s.plan.id} (${s.plan.name}), ${s.status}`);
  out.fields([
    ['period', `${when(s.currentPeriodStart)} to ${when(s.currentPeriodEnd)}`],
    ['pending', s.pendingPlan ? `${s.pendingPlan.id} from ${when(s.pendingPlan.effectiveAt)}` : 'none'],
    ['grace until', when(s.graceUntil, 'none')],
    ['billing', s.billing.mode === 'local' ? 'local mode (no charges)' : `Stripe customer ${s.billing.stripeCustomerId ?? '-'}, subscription ${s.billing.stripeSubscriptionId ?? '-'}`],
    ['workflow', s.workflowId ?? 'not started yet'],
  ]);
  if (s.closedPeriods.length > 0) {
    out.table(
      ['PERIOD START', 'PERIOD END', 'OVERAGE UNITS', 'REPORTED'],
      s.closedPeriods.map((p) => [when(p.start), when(p.end), String(p.overageUnits), p.reportedToStripe ? 'yes' : 'no']),
    );
  }
}
