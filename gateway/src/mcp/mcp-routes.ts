import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { AppError, isAppError } from '../../../core/errors.js';
import { sequentialId } from '../../../core/ids.js';
import { redactUrl, type Logger } from '../../../platform/logger.js';
import type { Principal } from '../../../core/principal.js';
import type { KeyAuthenticator } from '../auth/key-authenticator.js';
import { presentedCredential } from '../auth/credentials.js';
import type { CallGate } from './call-gate.js';
import { GatedTransport } from './gated-transport.js';
import type { McpHttpTransport } from './http-transport.js';
import { serveConnection, type ServerBuilder } from './mcp-connections.js';
import { errorResponse, httpStatusOf, retryAfterSeconds } from './to-wire-error.js';
import { WebSocketServerTransport } from './ws-transport.js';
import { countMcpRequest, handshakeReason } from '../observability/mcp-metrics.js';
import type { Metrics } from '../observability/metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the MCP auth hook on every /mcp request that passed authentication. */
    principal?: Principal;
  }
}

export interface McpRouteDeps {
  readonly authenticator: KeyAuthenticator;
  readonly gate: CallGate;
  readonly http: McpHttpTransport;
  readonly buildServer: ServerBuilder;
  readonly ws: { readonly pingIntervalMs: number };
  /** Cuts floods from one IP before authentication (throws a 429 AppError). */
  readonly ipLimiter?: { check(ip: string): void };
  /** Tracks open WebSocket sessions (for drain and status). */
  readonly onWebSocket?: (transport: WebSocketServerTransport, socket: WebSocket, keyId: string) => void;
  readonly metrics?: Metrics;
}

/**
 * `/mcp`: Streamable HTTP (POST, GET, DELETE) and WebSocket upgrades (subprotocol `mcp`)
 * on the same path. Authentication runs first, on every request and upgrade, before the
 * body is parsed. Errors on this path are JSON-RPC error bodies, never HTML, never redirects.
 */
export async function mcpRoutes(app: FastifyInstance, deps: McpRouteDeps): Promise<void> {
  app.addHook('onRequest', async (request) => {
    deps.ipLimiter?.check(request.ip);
    const credential = presentedCredential(request.raw as { headers: FastifyRequest['headers']; url: string }, isUpgrade(request));
    if (!credential) throw new AppError('UNAUTHENTICATED', 'an API key is required: send "Authorization: Bearer <key>"');
    const principal = await deps.authenticator.authenticate(credential.key);
    if (!principal.scopes.includes('mcp')) throw new AppError('FORBIDDEN', 'this API key does not have the "mcp" scope', { scope: 'mcp' });
    request.principal = principal;
    // Who is calling goes on the request's own logger (Fastify made it for this request, and
    // reply.log is the same one): a second child per request would cost more than the line.
    (request.log as Logger).setBindings({ orgId: principal.orgId, userId: principal.userId, key: principal.keyPrefix, plan: principal.plan.id });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => sendMcpError(error, request, reply, deps.metrics));

  app.route({
    method: 'GET',
    url: '/mcp',
    handler: (request, reply) => deps.http.get(request, reply),
    wsHandler: (socket: WebSocket, request: FastifyRequest) => openWebSocketSession(socket, request, deps),
  });
  app.post('/mcp', (request, reply) => deps.http.post(request, reply));
  app.delete('/mcp', (request, reply) => deps.http.delete(request, reply));
  app.route({
    method: ['PUT', 'PATCH'],
    url: '/mcp',
    handler: async (_request, reply) =>
      reply.code(405).header('allow', 'GET, POST, DELETE').send({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Method Not Allowed' } }),
  });
}

/** One WebSocket session: our transport, the gate in front, one server instance behind. */
function openWebSocketSession(socket: WebSocket, request: FastifyRequest, deps: McpRouteDeps): void {
  const principal = request.principal!;
  // Everything below attaches its handlers synchronously: frames may already be arriving.
  const transport = new WebSocketServerTransport(socket, { pingIntervalMs: deps.ws.pingIntervalMs });
  const { metrics } = deps;
  const gated = new GatedTransport(
    transport,
    deps.gate,
    (message) => {
      const requestId = sequentialId('request');
      return { principal, requestId, log: request.log.child({ rpcRequestId: requestId, method: message.method }), transport: 'ws', ip: request.ip };
    },
    metrics ? (method, ok) => countMcpRequest(metrics, 'ws', method, principal.plan.id, ok) : undefined,
  );
  serveConnection(gated, deps.buildServer, gated.contextOf, request.log);
  deps.onWebSocket?.(transport, socket, principal.keyId);
  metrics?.connectionsOpened.inc({ transport: 'ws' });
  metrics?.openConnections.inc({ transport: 'ws' });
  request.log.info({ transport: 'ws', url: redactUrl(request.url) }, 'mcp websocket session opened');
  socket.once('close', (code) => {
    metrics?.connectionsClosed.inc({ transport: 'ws' });
    metrics?.openConnections.dec({ transport: 'ws' });
    request.log.info({ transport: 'ws', code }, 'mcp websocket session closed');
  });
}

function isUpgrade(request: FastifyRequest): boolean {
  return (request.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** Errors on /mcp: a JSON-RPC error body with the matching HTTP status. */
function sendMcpError(error: FastifyError, request: FastifyRequest, reply: FastifyReply, metrics?: Metrics): FastifyReply {
  const appError = isAppError(error) ? error : fromFastifyError(error);
  const status = httpStatusOf(appError);
  // A refused upgrade, or a request refused before MCP (key, scope, IP flood, malformed body).
  metrics?.handshakeFailures.inc({ transport: isUpgrade(request) ? 'ws' : 'http', reason: handshakeReason(appError.code, status) });
  if (status >= 500) request.log.error({ err: error }, 'mcp request failed');
  else request.log.info({ code: appError.code }, 'mcp request rejected');
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="tollgate", error="invalid_token"');
  const retryAfter = retryAfterSeconds(appError);
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  const body = errorResponse(null, appError, request.id);
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
    return reply.code(400).send({ ...body, error: { ...body.error, code: -32700, message: 'Parse error: the body is not valid JSON' } });
  }
  return reply.code(status).send(body);
}

function fromFastifyError(error: FastifyError): AppError {
  switch (error.statusCode) {
    case 400:
      return new AppError('INVALID_INPUT', 'the request body is not valid JSON');
    case 413:
      return new AppError('PAYLOAD_TOO_LARGE', 'the request body is larger than this endpoint accepts');
    case 415:
      return new AppError('INVALID_INPUT', 'Content-Type must be application/json');
    default:
      return new AppError('INTERNAL', 'internal error', {}, { cause: error });
  }
}
