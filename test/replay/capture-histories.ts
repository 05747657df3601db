/**
 * Records workflow histories for the replay test: `npx tsx test/replay/capture-histories.ts
 * [toolCallWorkflow|settled|billing]` (needs Postgres and Redis on 127.0.0.1; billing also builds stripe-mock).
 * Starts its own Temporal dev server and worker, runs each case, and saves the history as
 * `temporal workflow show --output json` prints it. Re-record when a workflow changes on
 * purpose (with `patched()`), keep old files: they prove old runs still replay.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { createServer } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../platform/config.js';
import { createRedis } from '../../platform/redis/client.js';
import { ensureTemporalCli } from '../../scripts/lib/temporal-cli.js';
import { startDevServer } from '../../scripts/lib/temporal-dev-server.js';
import { createToolCallsWorker } from '../../workers/src/tool-calls-worker.js';
import { TOOL_CALL_WORKFLOW, USAGE_MAINTENANCE_WORKFLOW, type ToolCallInput, type ToolCallWorkflow } from '../../core/temporal/contracts.js';
import { subscriptionWorkflowId } from '../../core/billing.js';
import { SUBSCRIPTION_SWEEP_WORKFLOW, SUBSCRIPTION_WORKFLOW } from '../../core/temporal/billing-contract.js';
import { subscriptionClient } from '../../platform/billing/subscription-client.js';
import { createLogger } from '../../platform/logger.js';
import { migrate } from '../../platform/pg/migrate.js';
import { createPool } from '../../platform/pg/pool.js';
import { createBillingWorker } from '../../workers/src/billing-worker.js';
import { startStripeMock } from '../support/stripe-mock.js';
import { createTenant } from '../support/tenants.js';

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const cli = await ensureTemporalCli();
const server = await startDevServer({ cli, port, headless: true });
// One database of the capture's own for every case (the settled tool call writes usage, billing reads it).
const db = 'tollgate_capture';
const ownerUrl = `postgres://postgres@127.0.0.1:5432/${db}`;
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${db}`);
await admin.end();
await migrate(ownerUrl);
const config = loadConfig({
  TEMPORAL_ADDRESS: server.address,
  TOLLGATE_TASK_QUEUE_PREFIX: 'capture-',
  DATABASE_URL: `postgres://tollgate_app@127.0.0.1:5432/${db}`,
  DATABASE_OWNER_URL: ownerUrl,
});
const redis = createRedis(config.redis);
const toolPool = createPool(config.postgres.url, { max: 2 });
const worker = await createToolCallsWorker({ config, connection: await NativeConnection.connect({ address: server.address }), redis, pool: toolPool });
const running = worker.run();
const client = new Client({ connection: await Connection.connect({ address: server.address }) });

const input = (callId: string, args: unknown, settled = false): ToolCallInput => ({
  ...(settled ? { settlement: { lease: null, usage: { tier: 'pro', overage: false, transport: 'http' as const, startedAt: Date.now() } } } : {}),
  callId,
  requestId: `req_${callId}`,
  tool: 'count_primes',
  args,
  orgId: 'org_CaptureCaptureCapture',
  userId: 'usr_CaptureCaptureCapture',
  keyId: 'key_CaptureCaptureCapture',
  plan: 'pro',
  timeouts: { startToCloseMs: 60_000, heartbeatMs: 10_000, maxAttempts: 3 },
});

async function record(name: string, callId: string, args: unknown, cancelAfterMs?: number, settled = false): Promise<void> {
  const workflowId = `tool-call/org_CaptureCaptureCapture/${callId}`;
  const handle = await client.workflow.start<ToolCallWorkflow>(TOOL_CALL_WORKFLOW, {
    workflowId,
    taskQueue: config.temporal.taskQueues.toolCalls,
    args: [input(callId, args, settled)],
  });
  if (cancelAfterMs !== undefined) setTimeout(() => void handle.cancel(), cancelAfterMs);
  await handle.result().catch(() => {});
  const shown = spawnSync(cli, ['workflow', 'show', '--address', server.address, '-w', workflowId, '--output', 'json'], { encoding: 'utf8' });
  if (shown.status !== 0) throw new Error(shown.stderr);
  writeFileSync(new URL(`./histories/toolCallWorkflow/${name}.json`, import.meta.url), shown.stdout);
  console.log(`recorded ${name}`);
}

function save(workflow: string, name: string, workflowId: string, runId?: string): void {
  const shown = spawnSync(cli, ['workflow', 'show', '--address', server.address, '-w', workflowId, ...(runId ? ['-r', runId] : []), '--output', 'json'], { encoding: 'utf8' });
  if (shown.status !== 0) throw new Error(shown.stderr);
  mkdirSync(new URL(`./histories/${workflow}/`, import.meta.url), { recursive: true });
  writeFileSync(new URL(`./histories/${workflow}/${name}.json`, import.meta.url), shown.stdout);
  console.log(`recorded ${workflow}/${name}`);
}

const only = process.argv[2];
if (!only || only === 'toolCallWorkflow') {
  await record('completed', 'call_CaptureCompleted01', { from: 0, to: 1_000_000, steps: 3 });
  await record('cancelled', 'call_CaptureCancelled01', { from: 0, to: 50_000_000_000, steps: 5_000 }, 1_500);
  await record('failed-invalid-args', 'call_CaptureFailed00001', { from: 10, to: 1 });
}
if (!only || only === 'toolCallWorkflow' || only === 'settled') {
  // Runs that settle their own call (leases, refund, usage) when they end.
  await record('settled-completed', 'call_CaptureSettled0001', { from: 0, to: 1_000_000, steps: 3 }, undefined, true);
  await record('settled-cancelled', 'call_CaptureSettled0002', { from: 0, to: 50_000_000_000, steps: 5_000 }, 1_500, true);
}

// Billing: subscription (plan changes, Stripe events, a period end and continue-as-new), the
// sweep and usage maintenance, on a database of their own and stripe-mock.
if (!only || only === 'billing') {
  const stripe = await startStripeMock();
  const billingConfig = loadConfig({
    TEMPORAL_ADDRESS: server.address,
    TOLLGATE_TASK_QUEUE_PREFIX: 'capture-',
    DATABASE_URL: `postgres://tollgate_app@127.0.0.1:5432/${db}`,
    DATABASE_OWNER_URL: ownerUrl,
    STRIPE_SECRET_KEY: 'sk_test_capture',
    STRIPE_API_BASE: stripe.apiBase,
    TOLLGATE_BILLING_PERIOD: '3 seconds',
    TOLLGATE_BILLING_SETTLE: '1 s',
    TOLLGATE_BILLING_ACTIVITY_TIMEOUT: '10 s',
  });
  const pool = createPool(billingConfig.postgres.url, { max: 4 });
  const owner = createPool(ownerUrl, { max: 2 });
  const log = createLogger({ service: 'capture', level: 'warn', env: 'test' });
  const billingWorker = await createBillingWorker({
    config: billingConfig,
    connection: await NativeConnection.connect({ address: server.address }),
    client,
    pool,
    redis,
    log,
  });
  const billingRunning = billingWorker.run();
  await owner.query(`UPDATE plans SET stripe_price_id = 'price_capture_' || id WHERE id IN ('pro', 'ultra')`);
  const t = await createTenant(owner, { plan: 'free' });
  await owner.query(`UPDATE subscriptions SET current_period_start = date_trunc('milliseconds', now()), current_period_end = date_trunc('milliseconds', now()) + interval '4 seconds' WHERE org_id = $1`, [t.orgId]);
  const subs = subscriptionClient(client, billingConfig);
  const staff = { type: 'staff' as const, id: 'stf_CaptureCaptureCapture' };
  await subs.changePlan(t.orgId, 'chg_CaptureUpgradePro01', { planId: 'pro', actor: staff }, 30_000);
  await subs.changePlan(t.orgId, 'chg_CaptureUpgradeUltra1', { planId: 'ultra', actor: staff }, 30_000);
  await subs.changePlan(t.orgId, 'chg_CaptureDowngradePro1', { planId: 'pro', actor: staff }, 30_000);
  await subs.signalStripeEvent(t.orgId, { id: 'evt_CaptureFailed', type: 'invoice.payment_failed' });
  await subs.signalStripeEvent(t.orgId, { id: 'evt_CapturePaid', type: 'invoice.paid' });
  const handle = client.workflow.getHandle(subscriptionWorkflowId(t.orgId));
  const firstRun = (await handle.describe()).runId;
  // The first run ends by continuing as new once its period has closed.
  while ((await handle.describe()).runId === firstRun) await new Promise((r) => setTimeout(r, 200));
  save(SUBSCRIPTION_WORKFLOW, 'changes-events-period-end', subscriptionWorkflowId(t.orgId), firstRun);
  await handle.terminate('capture done');

  const sweepId = 'capture-subscription-sweep';
  await client.workflow.execute(SUBSCRIPTION_SWEEP_WORKFLOW, { taskQueue: billingConfig.temporal.taskQueues.billing, workflowId: sweepId, args: [] });
  save(SUBSCRIPTION_SWEEP_WORKFLOW, 'started-missing', sweepId);
  const maintenanceId = 'capture-usage-maintenance';
  await client.workflow.execute(USAGE_MAINTENANCE_WORKFLOW, { taskQueue: billingConfig.temporal.taskQueues.billing, workflowId: maintenanceId, args: [] });
  save(USAGE_MAINTENANCE_WORKFLOW, 'completed', maintenanceId);
  const { rows } = await owner.query<{ org_id: string }>('SELECT org_id FROM subscriptions WHERE workflow_started_at IS NOT NULL');
  for (const { org_id } of rows) await client.workflow.getHandle(subscriptionWorkflowId(org_id)).terminate('capture done').catch(() => {});

  billingWorker.shutdown();
  await billingRunning;
  await Promise.all([pool.end(), owner.end(), stripe.stop()]);
}

worker.shutdown();
await running;
await toolPool.end();
redis.disconnect();
await server.stop();
