import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { loadConfig } from '../../platform/config.js';
import { createLogger } from '../../platform/logger.js';
import { createRedis } from '../../platform/redis/client.js';
import { createToolCallsWorker } from './tool-calls-worker.js';

/**
 * Worker for the tool-calls task queue. Run as many as the load needs; Temporal spreads
 * the work. SIGTERM/SIGINT drains: no new tasks are taken, running ones finish (up to
 * the shutdown grace time), then the process exits.
 */
const config = loadConfig();
const log = createLogger({ service: 'worker', level: config.logLevel, env: config.env });
Runtime.install({
  logger: new DefaultLogger(toTemporalLevel(config.logLevel), (entry) => {
    log[entry.level === 'TRACE' ? 'trace' : (entry.level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error')](
      { ...entry.meta, temporal: true },
      entry.message,
    );
  }),
  shutdownSignals: [],
});

const redis = createRedis(config.redis);
const connection = await NativeConnection.connect({ address: config.temporal.address });
const worker = await createToolCallsWorker({ config, connection, redis });

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'worker draining');
  worker.shutdown();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

log.info({ taskQueue: config.temporal.taskQueues.toolCalls }, 'worker started');
await worker.run();
await Promise.allSettled([redis.quit(), connection.close()]);
log.info('worker stopped');

function toTemporalLevel(level: string): LogLevel {
  switch (level) {
    case 'trace':
      return 'TRACE';
    case 'debug':
      return 'DEBUG';
    case 'warn':
      return 'WARN';
    case 'error':
    case 'fatal':
      return 'ERROR';
    default:
      return 'INFO';
  }
}
