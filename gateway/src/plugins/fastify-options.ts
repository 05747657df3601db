import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { newId } from '../../../core/ids.js';
import type { Logger } from '../../../platform/logger.js';

/**
 * A Fastify app with the settings all three listeners share: our logger (whose request
 * serializer never prints headers or query secrets) and `req_…` request ids on every line.
 */
export function createFastify(log: Logger, bodyLimit: number, trustProxy: boolean | number | string[] = false): FastifyInstance {
  const app = Fastify({
    loggerInstance: log,
    genReqId: () => newId('request'),
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit,
    // A hop count is valid (proxy-addr); Fastify's type omits it.
    trustProxy: trustProxy as boolean | string[],
    return503OnClosing: true,
    // On close, idle keep-alive sockets are closed at once; in-flight requests finish.
    forceCloseConnections: 'idle',
  });
  // The generic logger type pino gives Fastify is narrower than FastifyBaseLogger in
  // name only; every module types the app as the default FastifyInstance.
  return app as unknown as FastifyInstance;
}
