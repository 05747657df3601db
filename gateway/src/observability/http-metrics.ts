import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

/**
 * Counts every HTTP request of a listener when it completes: by route pattern (never the raw
 * URL, whose ids would make unbounded labels), status class and the caller's tier (`none`
 * before authentication), with its duration.
 */
export function trackHttpMetrics(app: FastifyInstance, listener: 'public' | 'admin' | 'status', metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ listener, route, status: `${Math.floor(reply.statusCode / 100)}xx`, tier: request.principal?.plan.id ?? 'none' });
    metrics.httpRequestDuration.observe({ listener, route }, reply.elapsedTime / 1000);
  });
}
