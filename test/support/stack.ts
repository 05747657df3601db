import { NativeConnection, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { buildGateway, type Gateway } from '../../gateway/src/app.js';
import type { Config } from '../../platform/config.js';
import { createLogger } from '../../platform/logger.js';
import { createPool, type Pool } from '../../platform/pg/pool.js';
import { createRedis, type Redis } from '../../platform/redis/client.js';
import { startTracing, type Tracing } from '../../platform/telemetry/tracing.js';
import { createTemporalClient } from '../../platform/temporal/client.js';
import { createBillingWorker } from '../../workers/src/billing-worker.js';
import { createToolCallsWorker } from '../../workers/src/tool-calls-worker.js';
import { UsageIngestor } from '../../workers/src/usage-ingestor.js';
import { testConfig } from './env.js';
import { LogCapture } from './log-capture.js';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly config: Config;
  readonly mcpUrl: string;
  readonly wsUrl: string;
  readonly statusUrl: string;
  readonly adminUrl: string;
  readonly logs: LogCapture;
  readonly temporal: Awaited<ReturnType<typeof createTemporalClient>>;
  /** Set when the overrides name an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly tracing?: Tracing;
  close(): Promise<void>;
}

/** An in-process gateway on free ports, wired exactly as gateway/src/main.ts wires it. */
export async function startGateway(overrides: Record<string, string> = {}): Promise<TestGateway> {
  const config = testConfig(overrides);
  const logs = new LogCapture();
  const log = createLogger({ service: 'gateway', level: config.logLevel, env: config.env }, logs);
  const pool = createPool(config.postgres.url, { max: 5 });
  const redis = createRedis(config.redis);
  const redisAdmission = createRedis(config.redis, 'admission', config.admission.timeoutMs);
  const redisSubscriber = createRedis(config.redis, 'subscriber');
  const tracing = startTracing(config.tracing, 'tollgate-gateway');
  const temporal = await createTemporalClient(config.temporal, tracing);
  const gateway = await buildGateway({ config, log, pool, redis, redisAdmission, redisSubscriber, temporal, tracer: tracing?.tracer });
  const urls = await gateway.listen();
  const publicUrl = urls.publicUrl.replace('localhost', '127.0.0.1');
  return {
    gateway,
    config,
    mcpUrl: `${publicUrl}/mcp`,
    wsUrl: `${publicUrl.replace(/^http/, 'ws')}/mcp`,
    statusUrl: urls.statusUrl,
    adminUrl: urls.adminUrl,
    logs,
    temporal,
    tracing,
    async close() {
      await gateway.close();
      await Promise.allSettled([pool.end(), redis.quit(), redisAdmission.quit(), redisSubscriber.quit(), temporal.connection.close(), tracing?.shutdown()]);
    },
  };
}

export interface TestWorker {
  readonly worker: Worker;
  /** Set when the config names an OTLP endpoint. */
  readonly tracing?: Tracing;
  stop(): Promise<void>;
}

/** An in-process worker on the test file's task queue, using the suite's prebuilt bundle. */
export async function startWorker(config: Config): Promise<TestWorker> {
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const redis = createRedis(config.redis);
  const pool = createPool(config.postgres.url, { max: 3 });
  const tracing = startTracing(config.tracing, 'tollgate-worker');
  const worker = await createToolCallsWorker({
    config,
    connection,
    redis,
    pool,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    tracing,
  });
  const running = worker.run();
  return {
    worker,
    tracing,
    async stop() {
      worker.shutdown();
      await running;
      await Promise.allSettled([redis.quit(), pool.end(), connection.close(), tracing?.shutdown()]);
    },
  };
}

export interface TestBillingWorker {
  readonly worker: Worker;
  readonly ingestor: UsageIngestor;
  stop(): Promise<void>;
}

/**
 * An in-process billing worker on the test file's task queue (usage maintenance) and a
 * usage ingestor reading the stream into the test database, as workers/src/billing.worker.ts
 * wires them (without the Schedule: tests run maintenance when they need it).
 */
export async function startBillingWorker(config: Config, opts: { ingest?: boolean } = {}): Promise<TestBillingWorker> {
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const redis = createRedis(config.redis);
  const pool = createPool(config.postgres.url, { max: 4 });
  const log = createLogger({ service: 'billing-worker', level: 'warn', env: config.env });
  const temporal = await createTemporalClient(config.temporal);
  const worker = await createBillingWorker({ config, connection, client: temporal.client, pool, redis, log, workflowBundle: { codePath: inject('workflowBundlePath') } });
  const ingestor = new UsageIngestor({ redis, pool, shards: config.usage.shards, consumer: `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, claimIdleMs: config.usage.claimIdleMs, log });
  if (opts.ingest !== false) ingestor.start();
  const running = worker.run();
  return {
    worker,
    ingestor,
    async stop() {
      worker.shutdown();
      await running;
      await ingestor.stop();
      await Promise.allSettled([redis.quit(), pool.end(), connection.close(), temporal.connection.close()]);
    },
  };
}

/** A pool connected as the migration owner (bypasses row-level security): for fixtures only. */
export function ownerPool(): Pool {
  return createPool(inject('databaseOwnerUrl'), { max: 3 });
}

export type { Redis };
