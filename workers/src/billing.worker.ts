import { hostname } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../platform/config.js';
import { createLogger } from '../../platform/logger.js';
import { createPool } from '../../platform/pg/pool.js';
import { createRedis } from '../../platform/redis/client.js';
import { startTracing } from '../../platform/telemetry/tracing.js';
import { workflowClientInterceptors } from '../../platform/temporal/client.js';
import { createBillingWorker } from './billing-worker.js';
import { installTemporalRuntime, onShutdownSignal } from './runtime.js';
import { ensureSubscriptionSweepSchedule, ensureUsageSchedule } from './schedules.js';
import { UsageIngestor } from './usage-ingestor.js';

/**
 * Worker for the billing task queue, plus the usage ingestor (Redis stream → Postgres).
 * Run two or more for availability: the ingestor's consumer group and Temporal share the
 * work between them. SIGTERM/SIGINT drains: the ingestor finishes the batch in hand, the
 * worker its running tasks, then the process exits.
 */
const config = loadConfig();
const log = createLogger({ service: 'billing-worker', level: config.logLevel, env: config.env });
installTemporalRuntime(log, config.logLevel, config.worker.metricsAddress);
const tracing = startTracing(config.tracing, 'tollgate-billing-worker');
if (tracing) log.info({ endpoint: tracing.endpoint, service: tracing.serviceName }, 'tracing on (OTLP)');

const pool = createPool(config.postgres.url, { max: config.postgres.poolMax, applicationName: 'tollgate-billing-worker' });
const redis = createRedis(config.redis);
const connection = await NativeConnection.connect({ address: config.temporal.address });
const clientConnection = await Connection.connect({ address: config.temporal.address });
// Its workflow starts (the sweep's, plan changes') carry the trace context when tracing is on.
const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace, interceptors: { workflow: workflowClientInterceptors(tracing) } });

const scheduleId = `${config.temporal.taskQueues.billing}-usage-maintenance`;
const schedule = await ensureUsageSchedule(client, { scheduleId, taskQueue: config.temporal.taskQueues.billing, everyMs: config.usage.rollupEveryMs });
log.info({ scheduleId, everyMs: config.usage.rollupEveryMs, schedule }, 'usage maintenance scheduled');
const sweepId = `${config.temporal.taskQueues.billing}-subscription-sweep`;
if (config.billing.sweepEveryMs === null) {
  log.warn({ scheduleId: sweepId }, 'subscription sweep is off (TOLLGATE_SUBSCRIPTION_SWEEP_EVERY=off): organizations get a subscription workflow only from a plan change or webhook');
} else {
  const sweep = await ensureSubscriptionSweepSchedule(client, { scheduleId: sweepId, taskQueue: config.temporal.taskQueues.billing, everyMs: config.billing.sweepEveryMs });
  log.info({ scheduleId: sweepId, everyMs: config.billing.sweepEveryMs, schedule: sweep }, 'subscription sweep scheduled');
}
if (config.billing.mode === 'local') {
  log.warn('billing runs in LOCAL MODE (no STRIPE_SECRET_KEY): plans change without charges and overage is recorded but not billed');
} else {
  log.info({ stripeApi: config.stripe.apiBase ?? 'https://api.stripe.com', meter: config.stripe.meterEventName }, 'billing through Stripe');
}

const ingestor = new UsageIngestor({
  redis,
  pool,
  shards: config.usage.shards,
  consumer: `${hostname()}-${process.pid}`,
  claimIdleMs: config.usage.claimIdleMs,
  log,
  onBatch: (inserted, skipped) => log.debug({ inserted, skipped }, 'usage batch stored'),
});
ingestor.start();

const worker = await createBillingWorker({ config, connection, client, pool, redis, log, tracing });
onShutdownSignal(log, () => {
  worker.shutdown();
  void ingestor.stop();
});

log.info({ taskQueue: config.temporal.taskQueues.billing, usageShards: config.usage.shards }, 'worker started');
await worker.run();
await ingestor.stop();
await Promise.allSettled([redis.quit(), pool.end(), connection.close(), clientConnection.close(), tracing?.shutdown()]);
log.info('worker stopped');
