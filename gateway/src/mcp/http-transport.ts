import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  classifyInboundRequest,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type JSONRPCResponse,
} from '@modelcontextprotocol/server';
import { AppError } from '../../../core/errors.js';
import type { CallGate } from './call-gate.js';
import type { ExchangeContext } from './exchange-context.js';
import type { ExchangeMux, ExchangeSink } from './exchange-mux.js';
import { HttpExchangeWriter, responseModes, type WriterTiming } from './http-exchange-writer.js';
import type { LegacySessions, ModernHub } from './mcp-connections.js';
import { countMcpRequest, handshakeReason } from '../observability/mcp-metrics.js';
import type { Metrics } from '../observability/metrics.js';
import { errorResponse, httpStatusOf, retryAfterSeconds } from './to-wire-error.js';

const SESSION_HEADER = 'mcp-session-id';

/**
 * Streamable HTTP on `/mcp` for both protocol eras.
 *
 * Every POST is classified by the SDK's own validation ladder (`classifyInboundRequest`:
 * JSON-RPC shape, era, envelope, header/body agreement). 2026-07-28 requests go to the
 * shared stateless hub; 2025-era traffic opens a session with `initialize` and is then
 * routed by `Mcp-Session-Id`. Requests pass the CallGate first, so refusals are real
 * HTTP statuses (403, 429 with Retry-After) with a JSON-RPC error body.
 */
export class McpHttpTransport {
  constructor(
    private readonly gate: CallGate,
    private readonly hub: ModernHub,
    private readonly sessions: LegacySessions,
    private readonly timing: WriterTiming,
    private readonly metrics?: Metrics,
  ) {}

  async post(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = request.body;
    const outcome = classifyInboundRequest({
      httpMethod: 'POST',
      protocolVersionHeader: header(request, 'mcp-protocol-version'),
      mcpMethodHeader: header(request, 'mcp-method'),
      mcpNameHeader: header(request, 'mcp-name'),
      body,
    });
    if (outcome.kind === 'reject') {
      if ((body as { method?: unknown } | null)?.method === 'initialize' && this.metrics) {
        this.metrics.handshakeFailures.inc({ transport: 'http', reason: /version/i.test(outcome.message) ? 'unsupported_version' : 'bad_request' });
      }
      return reply.code(outcome.httpStatus).send({
        jsonrpc: '2.0',
        id: echoId(body),
        error: { code: outcome.code, message: outcome.message, ...(outcome.data !== undefined ? { data: outcome.data } : {}) },
      });
    }
    if (outcome.kind === 'modern') {
      const mux = this.hub.get();
      if (outcome.messageKind === 'notification') {
        mux.notify(outcome.message);
        return reply.code(202).send();
      }
      return this.exchange(request, reply, mux, outcome.message, {}, 'modern');
    }
    if (outcome.reason === 'initialize') return this.initialize(request, reply, body as JSONRPCRequest);
    return this.sessionPost(request, reply, body);
  }

  /** 2025-era standalone stream: server messages unrelated to any request, for the session's life. */
  async get(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const sessionId = header(request, SESSION_HEADER);
    if (!sessionId) {
      return reply
        .code(405)
        .header('allow', 'POST, DELETE')
        .send(rpcError(null, -32000, 'Method Not Allowed: GET /mcp needs an Mcp-Session-Id (2025-era sessions) or a WebSocket upgrade'));
    }
    const session = this.sessions.find(sessionId, request.principal!.keyId);
    if (!session) return reply.code(404).send(rpcError(null, -32001, 'Session not found'));
    if (session.standalone) return reply.code(409).send(rpcError(null, -32000, 'Conflict: this session already has a stream open'));
    const writer = new HttpExchangeWriter(reply, { sse: true, json: false }, { [SESSION_HEADER]: session.id }, this.timing);
    session.standalone = { send: (message) => writer.related(message as JSONRPCNotification), end: () => writer.abandon() };
    reply.raw.on('close', () => {
      session.standalone = undefined;
      writer.abandon();
    });
    return reply;
  }

  async delete(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const sessionId = header(request, SESSION_HEADER);
    if (!sessionId) return reply.code(400).send(rpcError(null, -32000, 'Bad Request: Mcp-Session-Id header is required'));
    const session = this.sessions.find(sessionId, request.principal!.keyId);
    if (!session) return reply.code(404).send(rpcError(null, -32001, 'Session not found'));
    await session.close();
    return reply.code(200).send();
  }

  private async initialize(request: FastifyRequest, reply: FastifyReply, message: JSONRPCRequest): Promise<FastifyReply> {
    const session = this.sessions.open(request.principal!.keyId);
    if (!session) {
      throw new AppError('UPSTREAM_UNAVAILABLE', 'this gateway holds its maximum number of sessions', { retryAfterMs: 5_000 });
    }
    return this.exchange(request, reply, session.mux, message, { [SESSION_HEADER]: session.id }, 'initialize', (response) => {
      if ('error' in response) session.close().catch(() => {});
    });
  }

  private async sessionPost(request: FastifyRequest, reply: FastifyReply, body: unknown): Promise<FastifyReply> {
    const sessionId = header(request, SESSION_HEADER);
    if (!sessionId) return reply.code(400).send(rpcError(echoId(body), -32000, 'Bad Request: Mcp-Session-Id header is required (send initialize first)'));
    const version = header(request, 'mcp-protocol-version');
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      return reply.code(400).send(rpcError(echoId(body), -32000, `Bad Request: unsupported MCP-Protocol-Version ${version}`));
    }
    const session = this.sessions.find(sessionId, request.principal!.keyId);
    if (!session) return reply.code(404).send(rpcError(echoId(body), -32001, 'Session not found'));
    const messages = (Array.isArray(body) ? body : [body]) as JSONRPCMessage[];
    const requests = messages.filter((m): m is JSONRPCRequest => 'method' in m && 'id' in m);
    for (const m of messages) {
      if ('method' in m && !('id' in m)) session.mux.notify(m);
      else if (!('method' in m)) session.mux.respond(m);
    }
    if (requests.length === 0) return reply.code(202).send();
    if (!Array.isArray(body)) return this.exchange(request, reply, session.mux, requests[0]!, { [SESSION_HEADER]: session.id }, 'session');
    return this.batch(request, reply, session.mux, requests, session.id);
  }

  /** One request through the gate and the mux, answered as JSON or SSE. */
  private async exchange(
    request: FastifyRequest,
    reply: FastifyReply,
    mux: ExchangeMux,
    message: JSONRPCRequest,
    headers: Record<string, string>,
    era: 'modern' | 'initialize' | 'session',
    onEnd?: (response: JSONRPCResponse | JSONRPCErrorResponse) => void,
  ): Promise<FastifyReply> {
    const context = contextOf(request);
    const outcome = await this.gate.check(message, context.principal, context.ip);
    if (!outcome.ok) {
      this.count(message, context, false);
      if (era === 'initialize') this.metrics?.handshakeFailures.inc({ transport: 'http', reason: handshakeReason(outcome.error.code, httpStatusOf(outcome.error)) });
      return this.refuse(request, reply, message, outcome.error, headers);
    }
    const writer = new HttpExchangeWriter(reply, responseModes(request.headers.accept), headers, this.timing);
    const sink: ExchangeSink = {
      related: (m) => writer.related(m),
      end: (r) => {
        this.count(message, context, !('error' in r));
        writer.end(r);
        onEnd?.(r);
      },
    };
    const id = mux.request(message, outcome.admitted ? { ...context, admitted: outcome.admitted } : context, sink);
    reply.raw.on('close', () => {
      if (writer.isFinished || id === undefined) return;
      writer.abandon();
      mux.cancel(id, era === 'modern' ? 'the client closed the response stream' : 'the client disconnected');
    });
    return reply;
  }

  /** A 2025-03-26 JSON-RPC batch: every request is gated; answers come back as one JSON array. */
  private async batch(request: FastifyRequest, reply: FastifyReply, mux: ExchangeMux, requests: JSONRPCRequest[], sessionId: string): Promise<FastifyReply> {
    const context = contextOf(request);
    const answers = await Promise.all(
      requests.map(async (message) => {
        const outcome = await this.gate.check(message, context.principal, context.ip);
        if (!outcome.ok) {
          this.count(message, context, false);
          return errorResponse(message.id, outcome.error, context.requestId);
        }
        const answer = await new Promise<JSONRPCResponse | JSONRPCErrorResponse>((resolve) => {
          mux.request(message, outcome.admitted ? { ...context, admitted: outcome.admitted } : context, { related: () => {}, end: resolve });
        });
        this.count(message, context, !('error' in answer));
        return answer;
      }),
    );
    return reply.code(200).header(SESSION_HEADER, sessionId).send(answers);
  }

  private count(message: JSONRPCRequest, context: ExchangeContext, ok: boolean): void {
    if (this.metrics) countMcpRequest(this.metrics, 'http', message.method, context.principal.plan.id, ok);
  }

  private refuse(request: FastifyRequest, reply: FastifyReply, message: JSONRPCRequest, error: AppError, headers: Record<string, string>): FastifyReply {
    request.log.info({ method: message.method, code: error.code, ...error.details }, 'mcp request refused');
    const retryAfter = retryAfterSeconds(error);
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    const limit = error.details.limit;
    if (typeof limit === 'number' && retryAfter !== undefined) {
      reply.header('ratelimit-policy', `"${String(error.details.reason)}";q=${limit};w=60`);
      reply.header('ratelimit', `"${String(error.details.reason)}";r=${Number(error.details.remaining ?? 0)};t=${retryAfter}`);
    }
    return reply.code(httpStatusOf(error)).headers(headers).send(errorResponse(message.id, error, request.id));
  }
}

function contextOf(request: FastifyRequest): ExchangeContext {
  return { principal: request.principal!, requestId: request.id, log: request.log, transport: 'http', ip: request.ip };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function echoId(body: unknown): string | number | null {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

function rpcError(id: string | number | null, code: number, message: string) {
  return { jsonrpc: '2.0', id, error: { code, message } };
}
