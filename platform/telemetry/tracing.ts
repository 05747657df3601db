import { context, propagation, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Config } from '../config.js';

/**
 * OpenTelemetry tracing for one process: a tracer provider exporting over OTLP/HTTP (JSON)
 * through a batch processor. Off unless an endpoint is configured: then nothing here runs,
 * no provider exists and callers hold `undefined` instead of a tracer, so the hot path pays
 * a single `undefined` check.
 *
 * The provider is deliberately not registered as the global one: callers receive its
 * tracer explicitly (the gateway, Temporal's interceptors), so a test can run a gateway
 * and a worker in one process, each under its own service name. What must be global is
 * process-wide anyway and is installed once: the context manager (AsyncLocalStorage,
 * carrying the active span across awaits) and the W3C trace-context propagator (Temporal's
 * interceptors inject and extract their headers through the global propagator).
 */
export interface Tracing {
  readonly tracer: Tracer;
  /** Spans finished inside the workflow sandbox are handed here (the worker's exporter sink). */
  readonly processor: SpanProcessor;
  readonly resource: Resource;
  readonly serviceName: string;
  /** The collector, fit for a log line (no credentials). */
  readonly endpoint: string;
  /** Exports every span ended so far (tests; before a process exits). */
  flush(): Promise<void>;
  /** Flushes, then stops exporting. */
  shutdown(): Promise<void>;
}

export type TracingSettings = Config['tracing'];

/** Starts tracing when `settings.endpoint` is set; `undefined` (tracing off) otherwise. */
export function startTracing(settings: TracingSettings, defaultServiceName: string): Tracing | undefined {
  if (!settings.endpoint) return undefined;
  installProcessContext();
  const serviceName = settings.serviceName ?? defaultServiceName;
  const resource = Resource.default().merge(new Resource({ [ATTR_SERVICE_NAME]: serviceName }));
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.endpoint }));
  const provider = new BasicTracerProvider({
    resource,
    // A caller's sampling decision (traceparent) is kept; new traces are sampled by ratio.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }),
    spanProcessors: [processor],
  });
  let stopped: Promise<void> | undefined;
  return {
    tracer: provider.getTracer('tollgate'),
    processor,
    resource,
    serviceName,
    endpoint: describeEndpoint(settings.endpoint),
    flush: () => provider.forceFlush(),
    shutdown: () => (stopped ??= provider.shutdown()),
  };
}

/** Scheme, host and path only: credentials in the userinfo or query never reach a log line. */
function describeEndpoint(endpoint: string): string {
  const u = new URL(endpoint);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

let contextInstalled = false;

/**
 * Once per process. AsyncLocalStorage switches on promise hooks for the whole process (a
 * few percent of CPU per request on Node 20), which is why this happens only with tracing on.
 */
function installProcessContext(): void {
  if (contextInstalled) return;
  contextInstalled = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}
