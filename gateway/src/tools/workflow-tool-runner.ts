import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { ServerContext, CallToolResult } from '@modelcontextprotocol/server';
import { AppError, ERRORS, type ErrorCode } from '../../../core/errors.js';
import { newId } from '../../../core/ids.js';
import type { ToolDefinition } from '../../../core/tools/define.js';
import { SA } from '../../../core/temporal/search-attributes.js';
import { progressChannel, workflowIds } from '../../../core/temporal/workflow-ids.js';
import { TOOL_CALL_WORKFLOW, type ToolCallInput, type ToolCallOutput, type ToolCallWorkflow } from '../../../core/temporal/contracts.js';
import type { ExchangeContext } from '../mcp/exchange-context.js';
import type { Metrics } from '../observability/metrics.js';
import type { ProgressHub } from './progress-hub.js';

/**
 * Runs a `workflow` tool: one Temporal workflow per call, id from organization + call id,
 * findable by organization, plan and tool. The caller waits on the same MCP request and
 * receives progress notifications relayed from the activity through Redis pub/sub.
 * Cancelling the request (or losing its connection, for tools whose policy is `cancel`)
 * cancels the workflow.
 */
export class WorkflowToolRunner {
  constructor(
    private readonly temporal: Client,
    private readonly progress: ProgressHub,
    private readonly taskQueue: string,
    private readonly metrics?: Metrics,
  ) {}

  async run(tool: ToolDefinition, args: unknown, exchange: ExchangeContext, ctx: ServerContext): Promise<CallToolResult> {
    const options = tool.workflow;
    if (!options) throw new AppError('INTERNAL', `tool ${tool.name} has no workflow options`);
    const { principal } = exchange;
    const callId = newId('call');
    const workflowId = workflowIds.toolCall(principal.orgId, callId);
    const input: ToolCallInput = {
      callId,
      requestId: exchange.requestId,
      tool: tool.name,
      args,
      orgId: principal.orgId,
      userId: principal.userId,
      keyId: principal.keyId,
      plan: principal.plan.id,
      timeouts: { startToCloseMs: options.startToCloseMs, heartbeatMs: options.heartbeatMs, maxAttempts: options.maxAttempts },
    };

    const unsubscribe = await this.relayProgress(workflowId, ctx);
    let onAbort: (() => void) | undefined;
    try {
      const handle = await this.temporal.workflow.start<ToolCallWorkflow>(TOOL_CALL_WORKFLOW, {
        workflowId,
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        typedSearchAttributes: [
          { key: SA.orgId, value: principal.orgId },
          { key: SA.userId, value: principal.userId },
          { key: SA.plan, value: principal.plan.id },
          { key: SA.tool, value: tool.name },
          { key: SA.callStatus, value: 'running' },
        ],
        memo: { requestId: exchange.requestId },
      });
      exchange.log.info({ workflowId, tool: tool.name }, 'tool workflow started');
      this.metrics?.workflowStarts.inc({ tool: tool.name });
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
  private failure(err: unknown, tool: ToolDefinition, workflowId: string, exchange: ExchangeContext): CallToolResult {
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
