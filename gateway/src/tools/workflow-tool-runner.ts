import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { ServerContext, CallToolResult } from '@modelcontextprotocol/server';
import { AppError, ERRORS, type ErrorCode } from '../../../core/errors.js';
import type { ToolDefinition, WorkflowToolOptions } from '../../../core/tools/define.js';
import { SA } from '../../../core/temporal/search-attributes.js';
import { progressChannel, workflowIds } from '../../../core/temporal/workflow-ids.js';
import { TOOL_CALL_WORKFLOW, type ToolCallInput, type ToolCallOutput, type ToolCallWorkflow } from '../../../core/temporal/contracts.js';
import type { Permit } from '../admission/admission.js';
import type { ExchangeContext } from '../mcp/exchange-context.js';
import type { Metrics } from '../observability/metrics.js';
import type { ProgressHub } from './progress-hub.js';

/**
 * Runs a `workflow` tool: one Temporal workflow per call, id from organization + call id,
 * findable by organization, plan and tool. Either the caller waits on the same MCP request
 * and receives progress notifications relayed from the activity through Redis pub/sub
 * (cancelling the request, or losing its connection for tools whose policy is `cancel`,
 * cancels the workflow), or — a task-augmented call — gets a task at once and fetches the
 * result later, from any gateway (gateway/src/tools/tool-tasks.ts).
 */
/** Set once the workflow has taken the call over: from then on it settles the call, not the gateway. */
export interface Handoff {
  toWorkflow: boolean;
  /**
   * The call was started before (a retried request with the same idempotency key): this
   * request joined that run, `running` or already `closed`, and must give back what its own
   * admission charged.
   */
  repeatOf?: 'running' | 'closed';
}

/** A task-augmented call's answer (MCP 2025-11-25 tasks): the work goes on; poll or fetch by id. */
export interface StartedTask {
  readonly taskId: string;
  readonly createdAt: string;
}

export class WorkflowToolRunner {
  constructor(
    private readonly temporal: Client,
    private readonly progress: ProgressHub,
    private readonly taskQueue: string,
    private readonly leaseTtlMs: number,
    private readonly metrics?: Metrics,
  ) {}

  /** Runs the call and waits for its result, relaying progress; `handoff` says who settles it. */
  async run(tool: ToolDefinition, args: unknown, permit: Permit, exchange: ExchangeContext, ctx: ServerContext, handoff: Handoff): Promise<CallToolResult> {
    const options = optionsOf(tool);
    const workflowId = workflowIds.toolCall(permit.principal.orgId, permit.callId);
    const unsubscribe = await this.relayProgress(workflowId, ctx);
    let onAbort: (() => void) | undefined;
    try {
      const handle = await this.start(tool, args, permit, exchange, handoff);
      onAbort = () => {
        if (options.onDisconnect === 'cancel') {
          handle.cancel().catch((err: unknown) => exchange.log.warn({ err, workflowId }, 'workflow cancel failed'));
        }
      };
      if (ctx.mcpReq.signal.aborted) onAbort();
      else ctx.mcpReq.signal.addEventListener('abort', onAbort, { once: true });
      const output = await handle.result();
      return toCallToolResult(output);
    } catch (err) {
      return this.failure(err, tool, workflowId, exchange);
    } finally {
      if (onAbort) ctx.mcpReq.signal.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  }

  /** Starts the call as a task and answers at once: its id is the call id (tasks/get, tasks/result, tasks/cancel). */
  async startTask(tool: ToolDefinition, args: unknown, permit: Permit, exchange: ExchangeContext, handoff: Handoff): Promise<StartedTask> {
    await this.start(tool, args, permit, exchange, handoff);
    return { taskId: permit.callId, createdAt: new Date().toISOString() };
  }

  /**
   * Starts the call's workflow, id `tool-call/<org>/<callId>`, carrying the call's leases and
   * usage so that the workflow settles them when it ends, wherever this gateway is by then.
   */
  private async start(tool: ToolDefinition, args: unknown, permit: Permit, exchange: ExchangeContext, handoff: Handoff) {
    const options = optionsOf(tool);
    const { principal } = permit;
    const workflowId = workflowIds.toolCall(principal.orgId, permit.callId);
    const input: ToolCallInput = {
      callId: permit.callId,
      requestId: exchange.requestId,
      tool: tool.name,
      args,
      orgId: principal.orgId,
      userId: principal.userId,
      keyId: principal.keyId,
      plan: principal.plan.id,
      timeouts: { startToCloseMs: options.startToCloseMs, heartbeatMs: options.heartbeatMs, maxAttempts: options.maxAttempts },
      settlement: {
        lease: permit.mode === 'redis' ? { keys: permit.leaseKeys, ttlMs: this.leaseTtlMs, quotas: permit.quotas } : null,
        usage: { tier: principal.plan.id, overage: permit.overQuota.some((o) => o.policy === 'overage'), transport: exchange.transport, startedAt: Date.now() },
      },
    };
    let handle;
    try {
      handle = await this.temporal.workflow.start<ToolCallWorkflow>(TOOL_CALL_WORKFLOW, {
        workflowId,
        taskQueue: this.taskQueue,
        args: [input],
        // A call id names one run forever: a retried request joins it, running or finished.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SA.orgId, value: principal.orgId },
          { key: SA.userId, value: principal.userId },
          { key: SA.plan, value: principal.plan.id },
          { key: SA.tool, value: tool.name },
          { key: SA.callStatus, value: 'running' },
        ],
        memo: { requestId: exchange.requestId },
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const existing = this.temporal.workflow.getHandle<ToolCallWorkflow>(workflowId);
      const { status } = await existing.describe();
      handoff.toWorkflow = true;
      handoff.repeatOf = status.name === 'RUNNING' ? 'running' : 'closed';
      exchange.log.info({ workflowId, tool: tool.name, repeatOf: handoff.repeatOf }, 'repeated call joined its workflow');
      return existing;
    }
    handoff.toWorkflow = true;
    exchange.log.info({ workflowId, tool: tool.name }, 'tool workflow started');
    this.metrics?.workflowStarts.inc({ tool: tool.name });
    return handle;
  }

  private async relayProgress(workflowId: string, ctx: ServerContext): Promise<() => void> {
    const token = ctx.mcpReq._meta?.progressToken;
    if (token === undefined) return () => {};
    let last = -Infinity;
    return this.progress.subscribe(progressChannel(workflowId), (p) => {
      if (!(p.progress > last)) return; // progress must increase on every notification
      last = p.progress;
      ctx.mcpReq
        .notify({
          method: 'notifications/progress',
          params: { progressToken: token, progress: p.progress, ...(p.total !== undefined ? { total: p.total } : {}), ...(p.message ? { message: p.message } : {}) },
        })
        .catch(() => {});
    });
  }

  /** A failed run becomes an `isError` result with a sanitized message; cancellation stays an error. */
  failure(err: unknown, tool: ToolDefinition, workflowId: string, exchange: ExchangeContext): CallToolResult {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause;
      this.metrics?.workflowFailures.inc({ tool: tool.name, reason: failureReason(cause) });
      if (cause instanceof CancelledFailure) throw new AppError('CANCELLED', 'the call was cancelled', { workflowId });
      const app = applicationFailureOf(cause);
      const code = app?.type && app.type in ERRORS ? (app.type as ErrorCode) : undefined;
      const message = code && ERRORS[code].expose ? app?.message : undefined;
      exchange.log.warn({ workflowId, tool: tool.name, failure: cause?.constructor.name, code }, 'tool workflow failed');
      const text =
        cause instanceof TimeoutFailure
          ? `The tool "${tool.name}" timed out.`
          : cause instanceof TerminatedFailure
            ? `The tool "${tool.name}" was stopped by an operator.`
            : `The tool "${tool.name}" failed${message ? `: ${message}` : '.'}`;
      return { isError: true, content: [{ type: 'text', text }] };
    }
    throw err;
  }
}

function optionsOf(tool: ToolDefinition): WorkflowToolOptions {
  if (!tool.workflow) throw new AppError('INTERNAL', `tool ${tool.name} has no workflow options`);
  return tool.workflow;
}

function failureReason(cause: unknown): 'failed' | 'timeout' | 'cancelled' | 'terminated' {
  if (cause instanceof CancelledFailure) return 'cancelled';
  if (cause instanceof TimeoutFailure) return 'timeout';
  if (cause instanceof TerminatedFailure) return 'terminated';
  return 'failed';
}

/** The ApplicationFailure an activity threw, however deep in the failure chain it sits. */
function applicationFailureOf(cause: unknown): ApplicationFailure | undefined {
  let c: unknown = cause;
  while (c) {
    if (c instanceof ApplicationFailure) return c;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

export function toCallToolResult(output: ToolCallOutput): CallToolResult {
  return {
    content: [{ type: 'text', text: output.text }],
    ...(output.structuredContent ? { structuredContent: output.structuredContent } : {}),
  };
}
