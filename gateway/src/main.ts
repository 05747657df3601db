import { loadConfig } from '../../platform/config.js';
import { createLogger } from '../../platform/logger.js';
import { createPool } from '../../platform/pg/pool.js';
import { createRedis } from '../../platform/redis/client.js';
import { startTracing } from '../../platform/telemetry/tracing.js';
import { createTemporalClient } from '../../platform/temporal/client.js';
import { buildGateway } from './app.js';

/** Gateway process: three listeners (public MCP, admin, status), drained on SIGTERM/SIGINT. */
const config = loadConfig();
const log = createLogger({ service: 'gateway', level: config.logLevel, env: config.env });
// Before the Temporal client: its interceptor needs the tracer.
const tracing = startTracing(config.tracing, 'tollgate-gateway');
if (tracing) log.info({ endpoint: tracing.endpoint, service: tracing.serviceName }, 'tracing on (OTLP)');
const pool = createPool(config.postgres.url, { max: config.postgres.poolMax, applicationName: 'tollgate-gateway' });
const redis = createRedis(config.redis);
const redisAdmission = createRedis(config.redis, 'admission', config.admission.timeoutMs);
const redisSubscriber = createRedis(config.redis, 'subscriber');
const temporal = await createTemporalClient(config.temporal, tracing);

const gateway = await buildGateway({ config, log, pool, redis, redisAdmission, redisSubscriber, temporal, tracer: tracing?.tracer });
const urls = await gateway.listen();
log.info({ ...urls, billing: config.billing.mode }, 'gateway listening');
if (config.billing.mode === 'local') log.warn('billing runs in LOCAL MODE (no STRIPE_SECRET_KEY): plans change without charges');
if (config.billing.mode === 'stripe' && !config.stripe.webhookSecret) log.warn('STRIPE_WEBHOOK_SECRET is not set: /stripe/webhook refuses every delivery, so failed payments go unnoticed');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'gateway draining');
  const timer = setTimeout(() => {
    log.error('drain took too long; exiting');
    process.exit(1);
  }, config.http.shutdownGraceMs);
  timer.unref();
  await gateway.close();
  await Promise.allSettled([pool.end(), redis.quit(), redisAdmission.quit(), redisSubscriber.quit(), temporal.connection.close(), tracing?.shutdown()]);
  log.info('gateway stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
