import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createUsageActivities } from '../../activities/src/usage.js';
import type { Config } from '../../platform/config.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import { workflowSource } from './tool-calls-worker.js';

export interface BillingWorkerDeps {
  readonly config: Config;
  readonly connection: NativeConnection;
  readonly pool: Pool;
  readonly redis: Redis;
  /** A prebuilt workflow bundle (production, tests); bundles from source when absent. */
  readonly workflowBundle?: WorkerOptions['workflowBundle'];
}

/** A worker for the billing task queue: usage maintenance (and, with billing, subscriptions). */
export function createBillingWorker(deps: BillingWorkerDeps): Promise<Worker> {
  const { config } = deps;
  return Worker.create({
    connection: deps.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueues.billing,
    ...workflowSource(deps.workflowBundle, config.worker.workflowBundlePath),
    activities: { ...createUsageActivities({ pool: deps.pool, redis: deps.redis }) },
    shutdownGraceTime: config.http.shutdownGraceMs,
  });
}
