import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../../platform/logger.js';

/**
 * Routes the Temporal runtime's own log lines into our pino logger (one JSON stream per
 * process), serves the runtime's Prometheus metrics (workflow and activity task rates,
 * latencies, slots: `temporal_*`, default names and units) at `metricsAddress`, and leaves
 * signal handling to the entrypoint, which drains in its own order.
 */
export function installTemporalRuntime(log: Logger, level: string, metricsAddress?: string): void {
  Runtime.install({
    ...(metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } } } : {}),
    logger: new DefaultLogger(toTemporalLevel(level), (entry) => {
      log[entry.level === 'TRACE' ? 'trace' : (entry.level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error')]({ ...entry.meta, temporal: true }, entry.message);
    }),
    shutdownSignals: [],
  });
}

/** Calls `stop` once, on the first SIGTERM or SIGINT. */
export function onShutdownSignal(log: Logger, stop: () => void): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'worker draining');
    stop();
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}

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
