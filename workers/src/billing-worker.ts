import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createBillingActivities } from '../../activities/src/billing.js';
import { createUsageActivities } from '../../activities/src/usage.js';
import { subscriptionClient } from '../../platform/billing/subscription-client.js';
import type { Config } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import { createStripeBilling } from '../../platform/stripe/stripe-billing.js';
import type { Tracing } from '../../platform/telemetry/tracing.js';
import { workflowSource } from './tool-calls-worker.js';
import { workerTracingOptions } from './tracing.js';

export interface BillingWorkerDeps {
  readonly config: Config;
  readonly connection: NativeConnection;
  /** For the sweep that starts organizations' subscription workflows. */
  readonly client: Client;
  readonly pool: Pool;
  readonly redis: Redis;
  readonly log: Logger;
  /** A prebuilt workflow bundle (production, tests); bundles from source when absent. */
  readonly workflowBundle?: WorkerOptions['workflowBundle'];
  /** Tracing on: activity spans and the workflow's own spans are exported. */
  readonly tracing?: Tracing;
}

/** A worker for the billing task queue: usage maintenance, subscriptions and their billing cycles. */
export function createBillingWorker(deps: BillingWorkerDeps): Promise<Worker> {
  const { config } = deps;
  const source = workflowSource(deps.workflowBundle, config.worker.workflowBundlePath);
  return Worker.create({
    connection: deps.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueues.billing,
    ...source,
    ...workerTracingOptions(deps.tracing, source),
    activities: {
      ...createUsageActivities({ pool: deps.pool, redis: deps.redis }),
      ...createBillingActivities({
        pool: deps.pool,
        redis: deps.redis,
        stripe: createStripeBilling(config.stripe),
        subscriptions: subscriptionClient(deps.client, config),
        settings: { period: config.billing.period, graceMs: config.billing.graceMs, settleMs: config.billing.settleMs },
        log: deps.log,
      }),
    },
    shutdownGraceTime: config.http.shutdownGraceMs,
  });
}
