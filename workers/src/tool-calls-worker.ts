import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../../activities/src/index.js';
import type { Config } from '../../platform/config.js';
import type { Redis } from '../../platform/redis/client.js';

/** The workflow sources; workers load them by path (bundled), never by import. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/src/index.ts', import.meta.url));

export interface ToolCallsWorkerDeps {
  readonly config: Config;
  readonly connection: NativeConnection;
  readonly redis: Redis;
  /** A prebuilt workflow bundle (production, tests); bundles from source when absent. */
  readonly workflowBundle?: WorkerOptions['workflowBundle'];
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
  return Worker.create({
    connection: deps.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueues.toolCalls,
    ...workflowSource(deps.workflowBundle, config.worker.workflowBundlePath),
    activities: createActivities({ redis: deps.redis }),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    // Heartbeats reach the server at least this often, so cancellation is noticed quickly.
    maxHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: config.http.shutdownGraceMs,
  });
}
