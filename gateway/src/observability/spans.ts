import { SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';

/**
 * Runs `fn` as the active span `name` (child of whatever span is active) when tracing is
 * on. Off (`tracer` undefined) it just runs `fn`: no span object, no context switch, so
 * the hot path pays one `undefined` check. A throw marks the span as failed, with the
 * exception's type and message (never arguments or headers).
 */
export function withSpan<T>(tracer: Tracer | undefined, name: string, attributes: Attributes, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!tracer) return fn(undefined);
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}
