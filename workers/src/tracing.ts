import { createRequire } from 'node:module';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor, type OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import type { Tracing } from '../../platform/telemetry/tracing.js';

/**
 * Temporal's OpenTelemetry workflow interceptors (`RunWorkflow:<type>`, `StartActivity:<name>`,
 * … spans, made in the sandbox). They are part of every workflow bundle, tracing on or off,
 * so a setting never changes the code a workflow runs (and replays). Prebuilt bundles must
 * be made with them too: `bundleWorkflowCode({ workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES })`.
 */
export const WORKFLOW_INTERCEPTOR_MODULES: string[] = [createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

/**
 * The sink the sandbox hands its finished spans to: our span processor, or nowhere when
 * tracing is off. The bundle calls it either way, and an unregistered sink logs an error
 * per activation, so every worker (replay workers too) registers it.
 */
export function workflowSpanSinks(tracing: Tracing | undefined): InjectedSinks<OpenTelemetrySinks> {
  return { exporter: tracing ? makeWorkflowExporter(tracing.processor, tracing.resource) : { export: { fn: () => {} } } };
}

/**
 * The worker options that trace: the workflow interceptor modules when the worker bundles
 * from source, a span per activity execution (`RunActivity:<name>`, a child of the
 * workflow's `StartActivity`) when tracing is on, and the workflow span sink.
 */
export function workerTracingOptions(tracing: Tracing | undefined, source: Pick<WorkerOptions, 'workflowsPath'>): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  return {
    interceptors: {
      ...(source.workflowsPath ? { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } : {}),
      activity: tracing
        ? [
            (ctx) => ({
              inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }),
              // Activity log lines and metrics carry the trace and span ids.
              outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
            }),
          ]
        : [],
    },
    sinks: workflowSpanSinks(tracing),
  };
}
