import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ERRORS, isAppError } from '../../core/errors.js';
import { findTool } from '../../core/tools/catalog.js';
import type { ToolCallActivities, ToolCallInput, ToolCallOutput, ToolProgress } from '../../core/temporal/contracts.js';
import { progressChannel, workflowIds } from '../../core/temporal/workflow-ids.js';
import type { Redis } from '../../platform/redis/client.js';
import { WORKFLOW_TOOLS } from './tools/index.js';
import type { WorkflowToolContext } from './tools/workflow-tool.js';

interface Heartbeat {
  readonly checkpoint: unknown;
}

/**
 * Runs workflow tools. Progress goes two ways: into the heartbeat (with the checkpoint,
 * so a retry resumes) and onto Redis pub/sub (so the gateway holding the caller can
 * forward it as MCP progress). Failures become ApplicationFailures typed with the error
 * registry's code, which decides whether Temporal retries them.
 */
export function createToolCallActivities(deps: { redis: Redis }): ToolCallActivities {
  return {
    async runWorkflowTool(input: ToolCallInput): Promise<ToolCallOutput> {
      const ctx = Context.current();
      const tool = findTool(input.tool);
      const impl = WORKFLOW_TOOLS[input.tool];
      if (!tool || !impl) throw ApplicationFailure.create({ type: 'INTERNAL', message: `no workflow tool ${input.tool}`, nonRetryable: true });
      const channel = progressChannel(workflowIds.toolCall(input.orgId, input.callId));
      const previous = ctx.info.heartbeatDetails as Heartbeat | undefined;
      let last: Heartbeat = { checkpoint: previous?.checkpoint };
      const toolCtx: WorkflowToolContext = {
        checkpoint: previous?.checkpoint,
        orgId: input.orgId,
        userId: input.userId,
        signal: ctx.cancellationSignal,
        async progress(progress: ToolProgress, checkpoint: unknown) {
          last = { checkpoint };
          ctx.heartbeat(last);
          await deps.redis.publish(channel, JSON.stringify(progress)).catch(() => {
            // Progress is best effort; the result does not depend on it.
          });
        },
        async yield() {
          ctx.heartbeat(last);
          await yieldToEventLoop();
        },
        throwIfCancelled() {
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        },
      };
      try {
        const parsedArgs = tool.input.parse(input.args);
        const output = await impl(parsedArgs as never, toolCtx as WorkflowToolContext<never>);
        const structured = output && typeof output === 'object' ? (output as Record<string, unknown>) : undefined;
        return { text: JSON.stringify(output), ...(structured ? { structuredContent: structured } : {}) };
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

/** Typed, sanitized failures; cancellation passes through untouched. */
function toFailure(err: unknown): unknown {
  if (Context.current().cancellationSignal.aborted) return err;
  if (isAppError(err)) {
    const spec = ERRORS[err.code];
    return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: !spec.retryable });
  }
  if (err instanceof ApplicationFailure) return err;
  if (err && typeof err === 'object' && 'issues' in err) {
    return ApplicationFailure.create({ type: 'INVALID_INPUT', message: 'invalid tool arguments', nonRetryable: true });
  }
  return ApplicationFailure.create({ type: 'INTERNAL', message: 'the tool failed', nonRetryable: false, cause: err as Error });
}

