import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { sequentialId } from '../../../core/ids.js';
import { redactUrl, type Logger } from '../../../platform/logger.js';

/**
 * A Fastify app with the settings all three listeners share: our logger (whose request
 * serializer never prints headers or query secrets) and `req_…` request ids on every line.
 */
export function createFastify(log: Logger, bodyLimit: number, trustProxy: boolean | number | string[] = false): FastifyInstance {
  const app = Fastify({
    loggerInstance: log,
    genReqId: () => sequentialId('request'),
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    bodyLimit,
    // A hop count is valid (proxy-addr); Fastify's type omits it.
    trustProxy: trustProxy as boolean | string[],
    return503OnClosing: true,
    // On close, idle keep-alive sockets are closed at once; in-flight requests finish.
    forceCloseConnections: 'idle',
  });
  // One line per request, when it completes (instead of Fastify's two): the request's
  // logger already carries its id and, once authenticated, who made it.
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, url: redactUrl(request.url), statusCode: reply.statusCode, durationMs: Math.round(reply.elapsedTime * 100) / 100 },
      'request completed',
    );
  });
  // The generic logger type pino gives Fastify is narrower than FastifyBaseLogger in
  // name only; every module types the app as the default FastifyInstance.
  return app as unknown as FastifyInstance;
}
