import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { randomBase58 } from '../../core/ids.js';
import type { Pool } from '../../platform/pg/pool.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { send } from '../support/api.js';
import { deliverWebhook } from '../support/billing.js';
import { httpClient, wsClient } from '../support/mcp-clients.js';
import { spawnBillingWorker, spawnGateway, spawnWorker, type ChildService, type GatewayProcess } from '../support/processes.js';
import { ownerPool } from '../support/stack.js';
import { startStripeMock, type StripeStandIn } from '../support/stripe-mock.js';
import { createTenant, type TestTenant } from '../support/tenants.js';

/**
 * Every log line the gateway and both workers write, at debug level, through a scenario that
 * hands them every kind of secret: API keys in the Authorization header, the `access_token`
 * query parameter and a WebSocket subprotocol entry, a wrong key, a key created through the
 * account API (its secret in a response), a staff token, the Stripe secret key and webhook
 * secret in use, a database password, and tool arguments. None of them may appear.
 */
let pool: Pool;
let stripe: StripeStandIn;
let gateway: GatewayProcess;
let processes: ChildService[] = [];
let tenant: TestTenant;
let staffToken: string;

const canary = (what: string) => `${what}${randomBase58(16)}`;
const SECRETS = {
  stripeKey: canary('sk_test_'),
  webhookSecret: canary('whsec_'),
  dbPassword: canary('dbpw'),
  toolArgument: canary('private-text-'),
};

beforeAll(async () => {
  pool = ownerPool();
  stripe = await startStripeMock();
  tenant = await createTenant(pool, { plan: 'pro' });
  staffToken = (await createStaffWithToken(pool, { email: `ops-${Date.now()}@redaction.test`, name: 'Ops', tokenName: 'redaction' })).token;
  await pool.query(`UPDATE plans SET stripe_price_id = 'price_redaction_pro' WHERE id = 'pro' AND stripe_price_id IS NULL`);
  const databaseUrl = new URL(inject('databaseUrl'));
  databaseUrl.password = SECRETS.dbPassword; // trust auth ignores it; the processes hold it all the same
  const env = {
    LOG_LEVEL: 'debug',
    DATABASE_URL: databaseUrl.toString(),
    STRIPE_SECRET_KEY: SECRETS.stripeKey,
    STRIPE_WEBHOOK_SECRET: SECRETS.webhookSecret,
    STRIPE_API_BASE: stripe.apiBase,
    // Its billing worker reads the usage stream: a Redis database of its own keeps it off the suite's.
    REDIS_URL: inject('separateRedisUrls')[1]!,
  };
  gateway = await spawnGateway(env);
  processes = [gateway, await spawnWorker(env), await spawnBillingWorker(env)];
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await stripe?.stop();
  await pool?.end();
});

describe('log redaction across processes', () => {
  it('no raw key, token or secret reaches any log line', async () => {
    const seen: string[] = [tenant.key, staffToken];
    const publicUrl = gateway.mcpUrl.replace(/\/mcp$/, '');
    const wsUrl = gateway.mcpUrl.replace(/^http/, 'ws');

    // MCP over HTTP with the Authorization header, including a workflow tool (worker logs).
    const http = await httpClient(gateway.mcpUrl, tenant.key, 'modern');
    await http.callTool({ name: 'text_stats', arguments: { text: SECRETS.toolArgument } });
    await http.callTool({ name: 'count_primes', arguments: { to: 50_000, steps: 2 } });
    await http.close();

    // MCP over WebSocket with the key as a query parameter, and as a subprotocol entry.
    const ws = await wsClient(wsUrl, tenant.key);
    await ws.callTool({ name: 'text_stats', arguments: { text: SECRETS.toolArgument } });
    await ws.close();
    const subprotocol = new WebSocket(wsUrl, ['mcp', `bearer.${tenant.key}`]);
    await new Promise<void>((resolve, reject) => {
      subprotocol.once('open', () => resolve());
      subprotocol.once('error', reject);
    });
    subprotocol.close();

    // A key with the right shape and a wrong secret, in both places a client may put it.
    const wrongKey = `${tenant.key.slice(0, tenant.key.lastIndexOf('_') + 1)}${randomBase58(32)}`;
    seen.push(wrongKey);
    expect((await send(publicUrl, { method: 'GET', path: '/v1/org', token: wrongKey })).status).toBe(401);
    expect((await fetch(`${gateway.mcpUrl}?access_token=${wrongKey}`, { method: 'POST', body: '{}' })).status).toBe(401);

    // A key created through the account API: its secret is in the response only.
    const created = await send(publicUrl, { method: 'POST', path: '/v1/keys', token: tenant.key, body: { name: 'made for the redaction test' } });
    expect(created.status).toBe(201);
    seen.push((created.body as { secret: string }).secret);

    // Staff: a plan change that calls Stripe with the secret key, and a signed webhook.
    const free = await createTenant(pool, { plan: 'free' });
    seen.push(free.key);
    const change = await send(gateway.adminUrl, { method: 'PUT', path: `/admin/v1/orgs/${free.orgId}/plan`, token: staffToken, body: { plan: 'pro' } });
    expect(change).toMatchObject({ status: 200, body: { applied: 'now' } });
    expect(stripe.requests.some((r) => r.path === '/v1/subscriptions')).toBe(true);
    const { rows } = await pool.query<{ stripe_customer_id: string }>('SELECT stripe_customer_id FROM subscriptions WHERE org_id = $1', [free.orgId]);
    const hook = await deliverWebhook(publicUrl, { id: `evt_redact${Date.now()}`, type: 'invoice.paid', object: { object: 'invoice', customer: rows[0]!.stripe_customer_id } }, SECRETS.webhookSecret);
    expect(hook.status).toBe(200);

    await Promise.all(processes.map((p) => p.stop()));
    const logs = processes.map((p) => p.output()).join('\n');
    // The logs are there (so their silence about secrets means something).
    expect(logs).toContain(`"orgId":"${tenant.orgId}"`);
    expect(logs).toContain('count_primes');
    expect(logs).toContain('stripe event delivered to the subscription workflow');
    for (const secret of [...seen, ...Object.values(SECRETS)]) expect(logs, `a log line holds ${secret.slice(0, 8)}…`).not.toContain(secret);
    // Nor the secret half of any key, on its own.
    for (const key of seen) expect(logs).not.toContain(key.slice(key.lastIndexOf('_') + 1));
  });
});
