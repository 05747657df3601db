import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Readiness } from '../readiness.js';

/** Liveness, readiness, uptime and Prometheus metrics on the status listener (never on the public port). */
export async function statusRoutes(app: FastifyInstance, deps: { readiness: Readiness; startedAt: Date; metrics: Registry }): Promise<void> {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const report = await deps.readiness.check();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
  app.get('/metrics', async (_request, reply) => reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.metrics()));
  app.get('/uptime', async () => ({
    startedAt: deps.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
  }));
}
