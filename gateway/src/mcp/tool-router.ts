import type { Span, Tracer } from '@opentelemetry/api';
import { ProtocolError, ProtocolErrorCode, type CallToolResult, type ServerContext, type Tool } from '@modelcontextprotocol/server';
import { AppError, ERRORS, isAppError, publicMessage } from '../../../core/errors.js';
import { planAllowsTool } from '../../../core/plans.js';
import type { Principal } from '../../../core/principal.js';
import { findTool, TOOL_CATALOG } from '../../../core/tools/catalog.js';
import type { ToolDefinition } from '../../../core/tools/define.js';
import { unitsFor, type UsageOutcome } from '../../../core/usage.js';
import { INLINE_TOOLS } from '../tools/inline-tools.js';
import { toolDescriptor } from '../tools/tool-descriptor.js';
import { createTaskResult, declaresTasksExtension, type TaskFlavor } from '../tools/tool-tasks.js';
import type { Handoff, WorkflowToolRunner } from '../tools/workflow-tool-runner.js';
import type { Admission, Permit } from '../admission/admission.js';
import type { Metrics } from '../observability/metrics.js';
import { withSpan } from '../observability/spans.js';
import type { UsageRecorder } from '../usage/usage-recorder.js';
import type { ExchangeContext } from './exchange-context.js';
import { toWireError } from './to-wire-error.js';

/**
 * Lists the tools of the caller's plan and dispatches calls to inline implementations
 * or to Temporal. Calls reach it only through the CallGate, which already checked the
 * plan and charged admission; it validates arguments and turns failures into sanitized
 * `isError` results.
 */
export class ToolRouter {
  constructor(
    private readonly workflows: WorkflowToolRunner,
    private readonly admission: Admission,
    private readonly usage: UsageRecorder,
    private readonly metrics: Metrics,
    /** Tracing on: each call is a `tools/call <tool>` span (its workflow start a child of it). */
    private readonly tracer?: Tracer,
  ) {}

  list(principal: Principal): Tool[] {
    return TOOL_CATALOG.filter((t) => planAllowsTool(principal.plan, t)).map(toolDescriptor);
  }

  async call(params: { name: string; arguments?: Record<string, unknown>; task?: unknown; _meta?: unknown }, exchange: ExchangeContext, ctx: ServerContext): Promise<CallToolResult> {
    const tool = findTool(params.name);
    if (!tool) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${params.name}`);
    const permit = exchange.admitted?.permit;
    if (exchange.admitted?.tool !== tool || !permit) {
      // Every transport gates tools/call; reaching here ungated is a bug, not a caller error.
      throw wireError(new AppError('INTERNAL', `tools/call of ${tool.name} reached the router without admission`), exchange);
    }
    // Named by the catalog's tool, never the caller's string: span names stay a bounded set.
    const attributes = { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': tool.name, 'tollgate.call_id': permit.callId, 'tollgate.tier': permit.principal.plan.id };
    // A workflow tool answers with a task at once when the client asks for one (2025-11-25
    // `params.task`) or, on 2026-07-28, declares the tasks extension (the server decides).
    const asTask: TaskFlavor | undefined =
      tool.mode !== 'workflow' ? undefined : params.task !== undefined && params.task !== null ? '2025-11-25' : declaresTasksExtension(ctx) ? 'extension' : undefined;
    return withSpan(this.tracer, `tools/call ${tool.name}`, attributes, (span) => this.callAdmitted(tool, permit, params.arguments, asTask, exchange, ctx, span));
  }

  private async callAdmitted(
    tool: ToolDefinition,
    permit: Permit,
    args: Record<string, unknown> | undefined,
    asTask: TaskFlavor | undefined,
    exchange: ExchangeContext,
    ctx: ServerContext,
    span: Span | undefined,
  ): Promise<CallToolResult> {
    const startedAt = Date.now();
    const t0 = performance.now();
    this.metrics.inflightCalls.inc();
    // The call holds its concurrency leases until it ends; a call outliving a third of the
    // lease TTL renews them (a crashed gateway's leases then expire within one TTL).
    const renewal = setInterval(() => void this.admission.renew(permit), this.admission.leaseTtlMs / 3);
    let outcome: UsageOutcome = 'failed';
    const handoff: Handoff = { toWorkflow: false };
    try {
      const ran = await this.run(tool, args, asTask, permit, exchange, ctx, handoff);
      outcome = ran.outcome;
      return withCallMeta(ran.result, permit);
    } catch (err) {
      if (err instanceof ProtocolError && (err.data as { code?: string } | undefined)?.code === 'CANCELLED') outcome = 'cancelled';
      throw err;
    } finally {
      span?.setAttribute('tollgate.outcome', outcome);
      clearInterval(renewal);
      this.metrics.inflightCalls.dec();
      const latencyMs = Math.round(performance.now() - t0);
      const tier = permit.principal.plan.id;
      this.metrics.mcpCalls.inc({ tier, tool: tool.name, outcome });
      this.metrics.mcpCallDuration.observe({ tier, tool: tool.name }, latencyMs / 1000);
      if (handoff.repeatOf) {
        // A retried request joined the call's run: that run settles the call once; this
        // request's own charge is given back (and its re-taken leases, if the run is over).
        void this.admission.release(permit, { failed: true, keepLeases: handoff.repeatOf === 'running' });
      } else if (handoff.toWorkflow) {
        // The workflow settles the call when it ends (leases, refund, usage record); only an
        // in-process fallback permit (Redis was down at admission) is this gateway's to end.
        if (permit.mode === 'fallback') void this.admission.release(permit, { failed: false });
      } else {
        void this.admission.release(permit, { failed: outcome !== 'ok' });
        // Durable before the caller sees the result: a call whose answer was delivered is counted.
        await this.usage.record({
          callId: permit.callId,
          requestId: exchange.requestId,
          orgId: permit.principal.orgId,
          userId: permit.principal.userId,
          keyId: permit.principal.keyId,
          tool: tool.name,
          tier,
          outcome,
          units: unitsFor(outcome),
          overage: permit.overQuota.some((o) => o.policy === 'overage'),
          cacheHit: false,
          latencyMs,
          transport: exchange.transport,
          startedAt,
          endedAt: startedAt + latencyMs,
        });
      }
    }
  }

  /**
   * Runs the tool: an `isError` result for bad arguments or a failure the tool reports
   * (`tool_error`), or for an unexpected failure (`failed`); cancellation is thrown.
   */
  private async run(
    tool: ToolDefinition,
    args: unknown,
    asTask: TaskFlavor | undefined,
    permit: Permit,
    exchange: ExchangeContext,
    ctx: ServerContext,
    handoff: Handoff,
  ): Promise<{ result: CallToolResult; outcome: UsageOutcome }> {
    const parsed = tool.input.safeParse(args ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ');
      return { outcome: 'tool_error', result: { isError: true, content: [{ type: 'text', text: `Invalid arguments for tool ${tool.name}: ${issues}` }] } };
    }
    try {
      if (asTask) {
        const task = await this.workflows.startTask(tool, parsed.data, permit, exchange, handoff);
        return { result: createTaskResult(task, asTask), outcome: 'ok' };
      }
      const result =
        tool.mode === 'workflow' ? await this.workflows.run(tool, parsed.data, permit, exchange, ctx, handoff) : await this.runInline(tool, parsed.data, exchange, ctx);
      return { result, outcome: result.isError ? 'tool_error' : 'ok' };
    } catch (err) {
      if (isAppError(err) && err.code === 'CANCELLED') throw wireError(err, exchange);
      if (!isAppError(err)) exchange.log.error({ err, tool: tool.name }, 'tool failed');
      const outcome: UsageOutcome = isAppError(err) && ERRORS[err.code].http < 500 ? 'tool_error' : 'failed';
      return { outcome, result: { isError: true, content: [{ type: 'text', text: `The tool "${tool.name}" failed: ${publicMessage(err)}` }] } };
    }
  }

  private async runInline(tool: ToolDefinition, args: unknown, exchange: ExchangeContext, ctx: ServerContext): Promise<CallToolResult> {
    const impl = INLINE_TOOLS[tool.name];
    if (!impl) throw new AppError('INTERNAL', `inline tool ${tool.name} has no implementation`);
    const output = await impl(args as never, { principal: exchange.principal, signal: ctx.mcpReq.signal, log: exchange.log });
    const structured = output && typeof output === 'object' && !Array.isArray(output) ? (output as Record<string, unknown>) : undefined;
    return {
      content: [{ type: 'text', text: typeof output === 'string' ? output : JSON.stringify(output) }],
      ...(structured && tool.output ? { structuredContent: structured } : {}),
    };
  }
}

/**
 * Every result names its call (`_meta["io.tollgate/callId"]`: the id of its usage record, for
 * support and billing questions). A call admitted past a quota (soft or overage policy)
 * says so too, so clients and agents can warn their users before the bill or the hard stop.
 */
function withCallMeta(result: CallToolResult, permit: Permit): CallToolResult {
  const meta: Record<string, unknown> = { ...result._meta, 'io.tollgate/callId': permit.callId };
  if (permit.overQuota.length > 0) {
    meta['io.tollgate/quota'] = permit.overQuota.map((o) => ({
      reason: o.reason,
      policy: o.policy,
      limit: o.limit,
      message:
        o.policy === 'overage'
          ? `past the ${o.reason === 'quota_daily' ? 'daily' : 'monthly'} quota of ${o.limit}: this call is billed as overage`
          : `past the ${o.reason === 'quota_daily' ? 'daily' : 'monthly'} quota of ${o.limit}: calls are still allowed, but consider upgrading`,
    }));
  }
  return { ...result, _meta: meta };
}

function wireError(err: AppError, exchange: ExchangeContext): ProtocolError {
  const w = toWireError(err, exchange.requestId);
  return new ProtocolError(w.code, w.message, w.data);
}
