import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { addMember, createApiKey, createUser, provision } from '../../platform/tenancy/provisioning.js';
import type { OrgId } from '../../core/ids.js';
import { modernHeaders, MODERN_META } from '../support/mcp-clients.js';
import { spawnGateway, type GatewayProcess } from '../support/processes.js';
import { ownerPool } from '../support/stack.js';
import { uniformLimits } from '../support/plan-limits.js';
import { createTenant } from '../support/tenants.js';

/**
 * Exactness under concurrency, across two real gateway processes sharing one Redis:
 * hundreds of simultaneous callers, and each level admits exactly its limit — no more
 * (over-admission) and no less (lost capacity). Each scenario runs on a plan of its own
 * whose other limits are out of reach, so the level under test is the one that decides.
 */
let pool: Pool;
let a: GatewayProcess;
let b: GatewayProcess;
let staffToken: string;
let basePlan: Record<string, unknown>;

const UNLIMITED_LIMITS = uniformLimits(1_000_000);

beforeAll(async () => {
  pool = ownerPool();
  // Not under test here, so out of reach: the per-process pre-auth IP guard, and the
  // admission timeout (a 300-call burst on two cores can queue a reply past 1 s; a timed-out
  // call is refused, which would blur the count). admission-failures.test.ts covers both.
  const env = { TOLLGATE_PREAUTH_IP_PER_MINUTE: '1000000', TOLLGATE_ADMISSION_TIMEOUT: '10 s' };
  [a, b] = await Promise.all([spawnGateway(env), spawnGateway(env)]);
  staffToken = (await createStaffWithToken(pool, { email: `ops-${Date.now()}@exact.test`, name: 'Ops', tokenName: 'exactness' })).token;
  const { plans } = (await (await admin('/admin/v1/plans', 'GET')).json()) as { plans: Array<Record<string, unknown>> };
  basePlan = plans.find((p) => p.id === 'pro')!;
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await pool?.end();
});

function admin(path: string, method: string, body?: unknown): Promise<Response> {
  return fetch(`${a.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${staffToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

let planSeq = 0;
/** A plan of the test's own: every limit out of reach except `limits`. */
async function planWith(limits: Record<string, Record<string, number> | number>, extra: Record<string, unknown> = {}): Promise<string> {
  const id = `exact${Date.now().toString(36)}${planSeq++}`;
  const merged: Record<string, unknown> = { ...UNLIMITED_LIMITS };
  for (const [k, v] of Object.entries(limits)) merged[k] = typeof v === 'number' ? v : { ...(UNLIMITED_LIMITS as unknown as Record<string, object>)[k], ...v };
  const res = await admin('/admin/v1/plans', 'POST', {
    ...basePlan,
    id,
    name: `Exactness ${planSeq}`,
    rank: 50,
    limits: merged,
    allowedTools: ['text_stats', 'noop'],
    quotaPolicy: 'block',
    ...extra,
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return id;
}

interface CallResult {
  status: number;
  reason?: string;
  code?: string;
  result?: { structuredContent?: { startedAt: number; endedAt: number }; isError?: boolean; _meta?: Record<string, unknown> };
}

let rpcId = 0;
/** One tools/call over HTTP (2026-07-28), through gateway `g`. */
async function call(g: GatewayProcess, key: string, tool = 'text_stats', args: Record<string, unknown> = { text: 'x' }): Promise<CallResult> {
  const res = await fetch(g.mcpUrl, {
    method: 'POST',
    headers: modernHeaders(key, 'tools/call', tool),
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'tools/call', params: { name: tool, arguments: args, _meta: MODERN_META } }),
  });
  const body = (await res.json()) as { result?: CallResult['result']; error?: { data?: { reason?: string; code?: string } } };
  return { status: res.status, ...(body.error?.data ? { reason: body.error.data.reason, code: body.error.data.code } : {}), ...(body.result ? { result: body.result } : {}) };
}

/** `n` simultaneous calls alternating between the two gateways. */
async function burst(n: number, keyFor: (i: number) => string, tool?: string, args?: Record<string, unknown>) {
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => call(i % 2 ? b : a, keyFor(i), tool, args)));
  return { results, elapsedMs: Date.now() - started, admitted: results.filter((r) => r.status === 200).length };
}

/** Only refusals for `reason` besides the admitted calls: the level under test decided. */
function expectOnlyRefusedFor(results: CallResult[], reason: string, status = 429): void {
  for (const r of results.filter((x) => x.status !== 200)) expect({ status: r.status, reason: r.reason }).toEqual({ status, reason });
}

/** More members with keys in the organization of `tenant`. */
async function moreKeys(orgId: OrgId, users: number): Promise<string[]> {
  return provision(pool, async (db) => {
    const keys: string[] = [];
    for (let i = 0; i < users; i++) {
      const u = await createUser(db, { email: `m${Date.now()}-${i}-${Math.random().toString(36).slice(2)}@exact.test`, name: `Member ${i}` });
      await addMember(db, orgId, u.userId, 'member');
      keys.push((await createApiKey(db, { orgId, userId: u.userId, name: 'k', scopes: ['mcp'] })).raw);
    }
    return keys;
  });
}

describe('admission is exact across two gateways under hundreds of concurrent callers', () => {
  it('per API key: a rate of 30 per minute admits exactly 30 of 300', async () => {
    const t = await createTenant(pool, { plan: await planWith({ perKey: { perMinute: 30 } }) });
    const { results, admitted, elapsedMs } = await burst(300, () => t.key);
    expect(elapsedMs).toBeLessThan(2_000); // one token refills every 2 s: no refill can count
    expect(admitted).toBe(30);
    expectOnlyRefusedFor(results, 'rate');
  });

  it('per user: 25 per minute shared by the user’s two keys', async () => {
    const plan = await planWith({ perUser: { perMinute: 25 } });
    const t = await createTenant(pool, { plan });
    const second = await provision(pool, (db) => createApiKey(db, { orgId: t.orgId, userId: t.userId, name: 'second', scopes: ['mcp'] }));
    const { results, admitted, elapsedMs } = await burst(250, (i) => (i % 3 ? t.key : second.raw));
    expect(elapsedMs).toBeLessThan(2_400);
    expect(admitted).toBe(25);
    expectOnlyRefusedFor(results, 'rate');
  });

  it('per organization: 40 per minute shared by all its users', async () => {
    const t = await createTenant(pool, { plan: await planWith({ perOrg: { perMinute: 40 } }) });
    const keys = [t.key, ...(await moreKeys(t.orgId, 3))];
    const { results, admitted, elapsedMs } = await burst(320, (i) => keys[i % keys.length]!);
    expect(elapsedMs).toBeLessThan(1_500);
    expect(admitted).toBe(40);
    expectOnlyRefusedFor(results, 'rate');
  });

  it.each([
    [7, 200, 'a ring of call times'],
    [90, 300, 'a counted ring'],
  ])('burst: at most %i calls in any one-second window, of %i (%s)', async (max, calls) => {
    const t = await createTenant(pool, { plan: await planWith({ burst: { max, windowMs: 1_000 } }) });
    const { results, admitted, elapsedMs } = await burst(calls, () => t.key);
    expect(elapsedMs).toBeLessThan(1_000);
    expect(admitted).toBe(max);
    expectOnlyRefusedFor(results, 'burst');
  });

  it('per IP: 15 per minute from one address', async () => {
    const t = await createTenant(pool, { plan: await planWith({ perIp: { perMinute: 15 } }) });
    const keys = [t.key, ...(await moreKeys(t.orgId, 2))];
    const { results, admitted, elapsedMs } = await burst(200, (i) => keys[i % keys.length]!);
    expect(elapsedMs).toBeLessThan(4_000);
    expect(admitted).toBe(15);
    expectOnlyRefusedFor(results, 'ip');
  });

  it('concurrency: never more than 4 calls at once, and capacity returns when they end', async () => {
    const t = await createTenant(pool, { plan: await planWith({ perUser: { concurrent: 4 } }) });
    const first = await burst(60, () => t.key, 'noop', { holdMs: 1_500 });
    expect(first.admitted).toBe(4);
    expectOnlyRefusedFor(first.results, 'concurrency');
    const spans = first.results.filter((r) => r.status === 200).map((r) => r.result!.structuredContent!);
    expect(maxOverlap(spans)).toBeLessThanOrEqual(4);
    const second = await burst(40, () => t.key, 'noop', { holdMs: 500 });
    expect(second.admitted).toBe(4);
  });

  it('daily quota: exactly 50 successful calls; failed calls give their unit back', async () => {
    const t = await createTenant(pool, { plan: await planWith({ perUser: { perDay: 50 } }) });
    const invalid = await burst(10, () => t.key, 'text_stats', { text: 42 });
    expect(invalid.results.every((r) => r.status === 200 && r.result?.isError === true)).toBe(true);
    const { results, admitted } = await burst(200, () => t.key);
    expect(admitted).toBe(50);
    expectOnlyRefusedFor(results, 'quota_daily');
    expect(results.find((r) => r.status === 429)?.code).toBe('QUOTA_EXCEEDED');
  });

  it('monthly quota of the organization: exactly 60 across its users', async () => {
    const t = await createTenant(pool, { plan: await planWith({ perOrg: { perMonth: 60 } }) });
    const keys = [t.key, ...(await moreKeys(t.orgId, 2))];
    const { results, admitted } = await burst(240, (i) => keys[i % keys.length]!);
    expect(admitted).toBe(60);
    expectOnlyRefusedFor(results, 'quota_monthly');
  });

  it('soft and overage policies admit past the quota and say so in _meta', async () => {
    for (const policy of ['soft', 'overage'] as const) {
      const t = await createTenant(pool, { plan: await planWith({ perUser: { perDay: 5 } }, { quotaPolicy: policy }) });
      const results: CallResult[] = [];
      for (let i = 0; i < 8; i++) results.push(await call(i % 2 ? b : a, t.key));
      expect(results.every((r) => r.status === 200)).toBe(true);
      const notices = results.map((r) => r.result?._meta?.['io.tollgate/quota'] as Array<{ policy: string; reason: string }> | undefined);
      expect(notices.slice(0, 5).every((n) => n === undefined)).toBe(true);
      for (const n of notices.slice(5)) expect(n).toEqual([expect.objectContaining({ policy, reason: 'quota_daily', limit: 5 })]);
    }
  });
});

/** The largest number of spans that overlap at one instant. */
function maxOverlap(spans: Array<{ startedAt: number; endedAt: number }>): number {
  const events = spans.flatMap((s) => [
    [s.startedAt, 1],
    [s.endedAt, -1],
  ]).sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
  let now = 0;
  let max = 0;
  for (const [, delta] of events) max = Math.max(max, (now += delta!));
  return max;
}
