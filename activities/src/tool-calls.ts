import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { isAppError } from '../../core/errors.js';
import { findTool } from '../../core/tools/catalog.js';
import type { ToolCallActivities, ToolCallInput, ToolCallOutput, ToolProgress } from '../../core/temporal/contracts.js';
import { progressChannel, workflowIds } from '../../core/temporal/workflow-ids.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import { registerScripts, release, renew, type RedisLike } from '../../platform/redis/commands.js';
import { withSystem, withTenant } from '../../platform/tenancy/db-context.js';
import { insertUsageRecords } from '../../platform/usage/usage-store.js';
import { unitsFor, type UsageRecord } from '../../core/usage.js';
import { appFailure } from './failures.js';
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
export function createToolCallActivities(deps: { redis: Redis; pool: Pool }): ToolCallActivities {
  const redis = registerScripts(deps.redis);
  return {
    async runWorkflowTool(input: ToolCallInput): Promise<ToolCallOutput> {
      const ctx = Context.current();
      const stopRenewing = renewLeases(redis, input);
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
        // The organization comes from the workflow's input, which only the gateway (after
        // authentication) writes: a tool cannot read another organization's rows.
        tenantDb: (fn) => withTenant(deps.pool, input.orgId, fn),
      };
      try {
        const parsedArgs = tool.input.parse(input.args);
        const output = await impl(parsedArgs as never, toolCtx as WorkflowToolContext<never>);
        const structured = output && typeof output === 'object' ? (output as Record<string, unknown>) : undefined;
        return { text: JSON.stringify(output), ...(structured ? { structuredContent: structured } : {}) };
      } catch (err) {
        throw toFailure(err);
      } finally {
        stopRenewing();
      }
    },

    async settleToolCall({ call, outcome, endedAt }): Promise<void> {
      const settlement = call.settlement;
      if (!settlement) return;
      if (settlement.lease) {
        // Idempotent: a lease already released is not released twice, nor its refund paid twice.
        await release(redis, settlement.lease.keys, outcome === 'ok' ? [] : settlement.lease.quotas, call.callId);
      }
      const record: UsageRecord = {
        callId: call.callId,
        requestId: call.requestId,
        orgId: call.orgId,
        userId: call.userId,
        keyId: call.keyId,
        tool: call.tool,
        tier: settlement.usage.tier,
        outcome,
        units: unitsFor(outcome),
        overage: settlement.usage.overage,
        cacheHit: false,
        latencyMs: Math.max(0, endedAt - settlement.usage.startedAt),
        transport: settlement.usage.transport,
        startedAt: settlement.usage.startedAt,
        endedAt,
      };
      // Keyed by the call id: a retried settlement inserts nothing the second time.
      await withSystem(deps.pool, (db) => insertUsageRecords(db, [record]));
    },
  };
}

/**
 * Keeps the call's concurrency leases alive while the activity runs (every third of their
 * TTL), wherever the gateway that admitted the call is by now. Returns the stop function.
 */
function renewLeases(redis: RedisLike, input: ToolCallInput): () => void {
  const lease = input.settlement?.lease;
  if (!lease || lease.keys.length === 0) return () => {};
  const renewOnce = () => void renew(redis, lease.keys, input.callId, lease.ttlMs).catch(() => {});
  renewOnce();
  const timer = setInterval(renewOnce, Math.max(1_000, lease.ttlMs / 3));
  return () => clearInterval(timer);
}

/** Typed, sanitized failures; cancellation passes through untouched. */
function toFailure(err: unknown): unknown {
  if (Context.current().cancellationSignal.aborted) return err;
  if (isAppError(err)) return appFailure(err);
  if (err instanceof ApplicationFailure) return err;
  if (err && typeof err === 'object' && 'issues' in err) {
    return ApplicationFailure.create({ type: 'INVALID_INPUT', message: 'invalid tool arguments', nonRetryable: true });
  }
  return ApplicationFailure.create({ type: 'INTERNAL', message: 'the tool failed', nonRetryable: false, cause: err as Error });
}

