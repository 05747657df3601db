import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../../activities/src/index.js';
import type { Config } from '../../platform/config.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import type { Tracing } from '../../platform/telemetry/tracing.js';
import { workerTracingOptions } from './tracing.js';

/** The workflow sources; workers load them by path (bundled), never by import. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/src/index.ts', import.meta.url));

export interface ToolCallsWorkerDeps {
  readonly config: Config;
  readonly connection: NativeConnection;
  readonly redis: Redis;
  readonly pool: Pool;
  /** A prebuilt workflow bundle (production, tests); bundles from source when absent. */
  readonly workflowBundle?: WorkerOptions['workflowBundle'];
  /** Tracing on: activity spans and the workflow's own spans are exported. */
  readonly tracing?: Tracing;
}

/** Where a worker gets its workflows: a given bundle, a prebuilt bundle file, or the sources (bundled at start). */
export function workflowSource(bundle: WorkerOptions['workflowBundle'] | undefined, bundlePath: string | undefined): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (bundle) return { workflowBundle: bundle };
  if (bundlePath) return { workflowBundle: { codePath: bundlePath } };
  return { workflowsPath: WORKFLOWS_PATH };
}

/** A worker for the tool-calls task queue: the tool-call workflow and its activities. */
export function createToolCallsWorker(deps: ToolCallsWorkerDeps): Promise<Worker> {
  const { config } = deps;
  const source = workflowSource(deps.workflowBundle, config.worker.workflowBundlePath);
  return Worker.create({
    connection: deps.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueues.toolCalls,
    ...source,
    ...workerTracingOptions(deps.tracing, source),
    activities: createActivities({ redis: deps.redis, pool: deps.pool }),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    // Heartbeats reach the server at least this often, so cancellation is noticed quickly.
    maxHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: config.http.shutdownGraceMs,
  });
}
