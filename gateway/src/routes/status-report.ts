import type { Connection } from '@temporalio/client';
// A CommonJS module: Node's ESM loader gives it only a default export.
import proto from '@temporalio/proto';
import type { Metrics } from '../observability/metrics.js';
import { withTimeout, type Readiness, type ReadinessReport } from '../readiness.js';

export interface TaskQueueStatus {
  readonly name: string;
  readonly kind: 'workflow' | 'activity';
  /** Workers polling it in the last minutes (0: nobody will run its tasks). */
  readonly pollers: number;
  /** Tasks waiting for a worker, and how long the oldest has waited. */
  readonly backlog: number;
  readonly backlogAgeSeconds: number;
  readonly error?: string;
}

export interface StatusReport {
  /** `ok`: serving with every dependency up and every task queue polled; `degraded`: serving, but not; `starting` / `draining`. */
  readonly status: 'ok' | 'degraded' | 'starting' | 'draining';
  readonly version: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly dependencies: ReadinessReport['dependencies'];
  readonly taskQueues: TaskQueueStatus[];
  readonly gateway: {
    readonly inflightCalls: number;
    readonly inflightHttpRequests: number;
    readonly openConnections: Record<string, number>;
  };
}

export interface StatusReporterDeps {
  readonly readiness: Readiness;
  readonly temporal: Connection;
  readonly namespace: string;
  readonly taskQueues: readonly string[];
  readonly metrics: Metrics;
  readonly inflightHttpRequests: () => number;
  readonly version: string;
  readonly startedAt: Date;
  readonly timeoutMs?: number;
}

const { TaskQueueType } = proto.temporal.api.enums.v1;

/**
 * What `/status` reports: the readiness probes (Postgres, Redis, Temporal with latency),
 * each task queue's pollers and backlog as Temporal sees them, and this gateway's own
 * in-flight work and open connections (read from its metrics, so both agree).
 */
export class StatusReporter {
  constructor(private readonly deps: StatusReporterDeps) {}

  async report(): Promise<StatusReport> {
    const [ready, taskQueues, inflightCalls, open] = await Promise.all([
      this.deps.readiness.check(),
      Promise.all(this.deps.taskQueues.flatMap((name) => [this.taskQueue(name, 'workflow'), this.taskQueue(name, 'activity')])),
      this.deps.metrics.inflightCalls.get(),
      this.deps.metrics.openConnections.get(),
    ]);
    const openConnections: Record<string, number> = { ws: 0, 'http-session': 0 };
    for (const v of open.values) openConnections[String(v.labels.transport)] = v.value;
    const healthy = Object.values(ready.dependencies).every((d) => d.ok) && taskQueues.every((q) => q.error === undefined && q.pollers > 0);
    return {
      status: ready.phase !== 'serving' ? ready.phase : healthy ? 'ok' : 'degraded',
      version: this.deps.version,
      startedAt: this.deps.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.deps.startedAt.getTime()) / 1000),
      dependencies: ready.dependencies,
      taskQueues,
      gateway: { inflightCalls: inflightCalls.values[0]?.value ?? 0, inflightHttpRequests: this.deps.inflightHttpRequests(), openConnections },
    };
  }

  private async taskQueue(name: string, kind: TaskQueueStatus['kind']): Promise<TaskQueueStatus> {
    try {
      const res = await withTimeout(
        this.deps.temporal.workflowService.describeTaskQueue({
          namespace: this.deps.namespace,
          taskQueue: { name },
          taskQueueType: kind === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
          reportStats: true,
        }),
        this.deps.timeoutMs ?? 2_000,
      );
      const age = res.stats?.approximateBacklogAge;
      return {
        name,
        kind,
        pollers: res.pollers?.length ?? 0,
        backlog: Number(res.stats?.approximateBacklogCount ?? 0),
        backlogAgeSeconds: age ? Number(age.seconds ?? 0) + (age.nanos ?? 0) / 1e9 : 0,
      };
    } catch (e) {
      return { name, kind, pollers: 0, backlog: 0, backlogAgeSeconds: 0, error: (e as Error).message };
    }
  }
}
