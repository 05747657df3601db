import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_URL_PATH } from '@opentelemetry/semantic-conventions';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * A SERVER span per HTTP request of a listener (`POST /mcp`), the parent of everything the
 * request does: admission, the tool call, the Temporal client's `StartWorkflow`, and through
 * the workflow's headers the workflow and its activities. Installed only when tracing is on.
 *
 * The span becomes the active context twice: in `onRequest` (authentication runs inside
 * it) and again in `preHandler`, because a body that arrives in several packets is parsed
 * from socket events, outside any context; the handler is called synchronously from
 * `preHandler`'s `done`, so the MCP transports, the gate and the tool router all run under
 * the request's span.
 *
 * A `traceparent` header from the caller (a proxy, an agent framework) is honoured, so the
 * gateway joins traces started upstream. The request's log lines carry the trace id.
 *
 * WebSocket upgrades get no span: the connection outlives any request span, and messages
 * arrive from socket events with no context; each call on a socket starts its own trace
 * (its admission and `tools/call` spans are roots).
 */
export function traceHttpRequests(app: FastifyInstance, tracer: Tracer): void {
  const spans = new WeakMap<FastifyRequest, Span>();

  app.addHook('onRequest', (request, reply, done) => {
    if (request.headers.upgrade !== undefined) return done();
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const route = request.routeOptions.url;
    const span = tracer.startSpan(
      route ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          // The path only: a query string may hold an access token.
          [ATTR_URL_PATH]: request.url.split('?', 1)[0],
          ...(route ? { [ATTR_HTTP_ROUTE]: route } : {}),
        },
      },
      parent,
    );
    spans.set(request, span);
    request.log = reply.log = request.log.child({ traceId: span.spanContext().traceId });
    context.with(trace.setSpan(parent, span), done);
  });

  app.addHook('preHandler', (request, _reply, done) => {
    const span = spans.get(request);
    if (!span) return done();
    context.with(trace.setSpan(context.active(), span), done);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const span = spans.get(request);
    if (span) {
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, reply.statusCode);
      if (request.principal) {
        span.setAttribute('tollgate.org_id', request.principal.orgId);
        span.setAttribute('tollgate.tier', request.principal.plan.id);
      }
      // Server spans: a 4xx is the caller's error, not ours (OpenTelemetry HTTP conventions).
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      spans.delete(request);
    }
    done();
  });

  // The client went away before the answer: the span still ends, marked as such.
  app.addHook('onRequestAbort', (request, done) => {
    const span = spans.get(request);
    if (span) {
      span.setAttribute('tollgate.aborted', true);
      span.end();
      spans.delete(request);
    }
    done();
  });
}
