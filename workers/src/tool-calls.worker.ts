import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../platform/config.js';
import { createLogger } from '../../platform/logger.js';
import { createPool } from '../../platform/pg/pool.js';
import { createRedis } from '../../platform/redis/client.js';
import { startTracing } from '../../platform/telemetry/tracing.js';
import { installTemporalRuntime, onShutdownSignal } from './runtime.js';
import { createToolCallsWorker } from './tool-calls-worker.js';

/**
 * Worker for the tool-calls task queue. Run as many as the load needs; Temporal spreads
 * the work. SIGTERM/SIGINT drains: no new tasks are taken, running ones finish (up to
 * the shutdown grace time), then the process exits.
 */
const config = loadConfig();
const log = createLogger({ service: 'worker', level: config.logLevel, env: config.env });
installTemporalRuntime(log, config.logLevel, config.worker.metricsAddress);
const tracing = startTracing(config.tracing, 'tollgate-worker');
if (tracing) log.info({ endpoint: tracing.endpoint, service: tracing.serviceName }, 'tracing on (OTLP)');

const redis = createRedis(config.redis);
const pool = createPool(config.postgres.url, { max: config.postgres.poolMax, applicationName: 'tollgate-worker' });
const connection = await NativeConnection.connect({ address: config.temporal.address });
const worker = await createToolCallsWorker({ config, connection, redis, pool, tracing });
onShutdownSignal(log, () => worker.shutdown());

log.info({ taskQueue: config.temporal.taskQueues.toolCalls }, 'worker started');
await worker.run();
await Promise.allSettled([redis.quit(), pool.end(), connection.close(), tracing?.shutdown()]);
log.info('worker stopped');
