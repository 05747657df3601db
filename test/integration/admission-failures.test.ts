import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { modernHeaders, MODERN_META } from '../support/mcp-clients.js';
import { spawnGateway, type GatewayProcess } from '../support/processes.js';
import { ownRedisServer, type RedisServer } from '../support/redis-server.js';
import { ownerPool } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

/**
 * Admission when things break: a gateway killed mid-call (its concurrency leases expire and
 * the capacity comes back), and Redis stopped and restarted under traffic (Free fails
 * closed, Pro fails open through the in-process limiter, and both recover by themselves).
 */
let pool: Pool;
let staffToken: string;
const started: GatewayProcess[] = [];

beforeAll(async () => {
  pool = ownerPool();
  staffToken = (await createStaffWithToken(pool, { email: `ops-${Date.now()}@failures.test`, name: 'Ops', tokenName: 'failures' })).token;
});

afterAll(async () => {
  await Promise.all(started.map((g) => g.stop()));
  await pool?.end();
});

async function gateway(env: Record<string, string> = {}): Promise<GatewayProcess> {
  const g = await spawnGateway({ TOLLGATE_PREAUTH_IP_PER_MINUTE: '1000000', ...env });
  started.push(g);
  return g;
}

let rpcId = 0;
async function call(g: GatewayProcess, key: string, tool = 'text_stats', args: Record<string, unknown> = { text: 'x' }) {
  const res = await fetch(g.mcpUrl, {
    method: 'POST',
    headers: modernHeaders(key, 'tools/call', tool),
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'tools/call', params: { name: tool, arguments: args, _meta: MODERN_META } }),
  });
  const body = (await res.json()) as { error?: { data?: { reason?: string; code?: string } } };
  return { status: res.status, reason: body.error?.data?.reason, code: body.error?.data?.code };
}

async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    const value = await probe();
    if (done(value)) return { value, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
  }
}

describe('admission when things break', () => {
  it('leases of a killed gateway expire and the capacity comes back', async () => {
    const a = await gateway();
    const doomed = await gateway({ TOLLGATE_LEASE_TTL: '2 s' });
    const plans = (await (await fetch(`${a.adminUrl}/admin/v1/plans`, { headers: { authorization: `Bearer ${staffToken}` } })).json()) as { plans: Array<Record<string, unknown> & { limits: Record<string, unknown> }> };
    const pro = plans.plans.find((p) => p.id === 'pro')!;
    const planId = `leases${Date.now().toString(36)}`;
    const created = await fetch(`${a.adminUrl}/admin/v1/plans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' },
      // Only concurrency is within reach: the polling below must not meet a rate limit.
      body: JSON.stringify({
        ...pro,
        id: planId,
        name: 'Lease test',
        rank: 60,
        allowedTools: ['noop', 'text_stats'],
        limits: {
          ...pro.limits,
          perKey: { perMinute: 100_000 },
          perUser: { perMinute: 100_000, perDay: 1_000_000, perMonth: 1_000_000, concurrent: 3 },
          perOrg: { perMinute: 100_000, perDay: 1_000_000, perMonth: 1_000_000, concurrent: 100 },
          perIp: { perMinute: 100_000 },
          burst: { max: 100_000, windowMs: 1_000 },
        },
      }),
    });
    expect(created.status).toBe(201);
    const t = await createTenant(pool, { plan: planId });

    // Three long calls on the doomed gateway hold every slot (their responses never come).
    // Probe only once the doomed gateway has admitted all three (its own metrics say so):
    // a probe racing them would take a slot and get one of them refused.
    // (A hold that answers at all was refused: the error then says why.)
    const early: unknown[] = [];
    for (let i = 0; i < 3; i++) void call(doomed, t.key, 'noop', { holdMs: 30_000 }).then((r) => early.push(r), () => {});
    const admitted = /tollgate_admission_decisions_total\{tier="[^"]+",kind="tools\/call",outcome="admitted"\} (\d+)/;
    await until(async () => ({ admitted: Number(admitted.exec(await (await fetch(`${doomed.statusUrl}/metrics`)).text())?.[1] ?? 0), early }), (s) => s.admitted >= 3 || early.length > 0, 15_000);
    expect(early).toEqual([]);
    expect((await call(a, t.key)).reason).toBe('concurrency');
    // Well past a lease TTL, the live gateway renews them: still full.
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await call(a, t.key)).reason).toBe('concurrency');

    await doomed.kill();
    const killedAt = Date.now();
    const { ms } = await until(() => call(a, t.key), (r) => r.status === 200, 6_000);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(2_000 + 1_500);
    expect(ms).toBeGreaterThan(0);
  });

  describe('with its own Redis, stopped and restarted mid-run', () => {
    let redis: RedisServer;
    let g: GatewayProcess;

    beforeAll(async () => {
      redis = await ownRedisServer();
      g = await gateway({ REDIS_URL: redis.url, TOLLGATE_BREAKER_COOLDOWN: '500 ms' });
    });

    afterAll(async () => {
      await redis?.kill();
    });

    it('Free fails closed, Pro fails open, and both recover', async () => {
      const free = await createTenant(pool, { plan: 'free' });
      const pro = await createTenant(pool, { plan: 'pro' });
      expect((await call(g, free.key)).status).toBe(200);
      expect((await call(g, pro.key)).status).toBe(200);

      await redis.kill();
      const freeDown = await call(g, free.key);
      expect(freeDown).toEqual({ status: 503, reason: 'global', code: 'SERVICE_UNAVAILABLE' });
      const proDown = await Promise.all([call(g, pro.key), call(g, pro.key), call(g, pro.key)]);
      expect(proDown.map((r) => r.status)).toEqual([200, 200, 200]);
      const metricsDown = await (await fetch(`${g.statusUrl}/metrics`)).text();
      expect(metricsDown).toMatch(/tollgate_admission_fail_open_total\{tier="free",outcome="closed_refused"\} [1-9]/);
      expect(metricsDown).toMatch(/tollgate_admission_fail_open_total\{tier="pro",outcome="fallback_admitted"\} [1-9]/);

      await redis.start();
      const recovered = await until(() => call(g, free.key), (r) => r.status === 200, 15_000);
      expect(recovered.value.status).toBe(200);
      expect((await call(g, pro.key)).status).toBe(200);
      const metricsUp = await (await fetch(`${g.statusUrl}/metrics`)).text();
      expect(metricsUp).toMatch(/tollgate_admission_breaker_state 0/);
    });
  });
});
