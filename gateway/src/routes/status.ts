import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Readiness } from '../readiness.js';
import type { StatusReporter } from './status-report.js';

const Dependency = z.object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() });
const Dependencies = z.object({ postgres: Dependency, redis: Dependency, temporal: Dependency });
const ReadinessOut = z.object({ ready: z.boolean(), phase: z.enum(['starting', 'serving', 'draining']), dependencies: Dependencies });
const StatusOut = z.object({
  status: z.enum(['ok', 'degraded', 'starting', 'draining']).describe('ok: serving, every dependency up, every task queue polled'),
  version: z.string(),
  startedAt: z.string(),
  uptimeSeconds: z.number(),
  dependencies: Dependencies,
  taskQueues: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['workflow', 'activity']),
      pollers: z.number().describe('workers polling the queue (0: its tasks will wait)'),
      backlog: z.number().describe('tasks waiting for a worker (approximate)'),
      backlogAgeSeconds: z.number(),
      error: z.string().optional(),
    }),
  ),
  gateway: z.object({ inflightCalls: z.number(), inflightHttpRequests: z.number(), openConnections: z.record(z.string(), z.number()) }),
});

export interface StatusRouteDeps {
  readonly readiness: Readiness;
  readonly reporter: StatusReporter;
  readonly startedAt: Date;
  readonly metrics: Registry;
}

/**
 * The status listener (`STATUS_PORT`, never the public port): liveness, readiness, a status
 * report for operators, uptime and Prometheus metrics, with their OpenAPI at `/docs`.
 */
export async function statusRoutes(root: FastifyInstance, deps: StatusRouteDeps): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const tags = ['status'];
  app.get('/health', { schema: { tags, summary: 'Liveness: the process answers', response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({ status: 'ok' as const }));
  app.get(
    '/ready',
    { schema: { tags, summary: 'Readiness: 200 once serving with Postgres, Redis and Temporal up; 503 while starting or draining', response: { 200: ReadinessOut, 503: ReadinessOut } } },
    async (_request, reply) => {
      const report = await deps.readiness.check();
      return reply.code(report.ready ? 200 : 503).send(report);
    },
  );
  app.get(
    '/status',
    { schema: { tags, summary: 'Dependencies with latency, task-queue pollers and backlog, in-flight calls, open connections, version', response: { 200: StatusOut } } },
    async () => deps.reporter.report(),
  );
  app.get('/uptime', { schema: { tags, response: { 200: z.object({ startedAt: z.string(), uptimeSeconds: z.number() }) } } }, async () => ({
    startedAt: deps.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
  }));
  app.get('/metrics', { schema: { tags, summary: 'Prometheus metrics (text exposition format)' } }, async (_request, reply) =>
    reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.metrics()),
  );
}
