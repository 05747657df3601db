import { WorkflowFailedError, WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY, ProtocolError, ProtocolErrorCode, type CallToolResult } from '@modelcontextprotocol/server';
import type { Principal } from '../../../core/principal.js';
import { findTool } from '../../../core/tools/catalog.js';
import { SA } from '../../../core/temporal/search-attributes.js';
import { workflowIds } from '../../../core/temporal/workflow-ids.js';
import type { ToolCallOutput } from '../../../core/temporal/contracts.js';
import type { ExchangeContext } from '../mcp/exchange-context.js';
import { toCallToolResult, type StartedTask, type WorkflowToolRunner } from './workflow-tool-runner.js';

/** MCP 2025-11-25 task states. */
export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

export interface Task {
  readonly taskId: string;
  readonly status: TaskStatus;
  /** Results are kept as long as Temporal keeps the run (the namespace's retention): no fixed TTL. */
  readonly ttl: null;
  readonly createdAt: string;
  readonly lastUpdatedAt: string;
  readonly pollInterval: number;
  readonly statusMessage?: string;
}

const POLL_INTERVAL_MS = 1_000;
const RELATED_TASK = 'io.modelcontextprotocol/related-task';
const TASK_ID = /^call_[1-9A-HJ-NP-Za-km-z]{8,40}$/;

/** The tasks extension of the 2026-07-28 revision (SEP-2663). */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** Which tasks vocabulary a request speaks: 2025-11-25 (`params.task`) or the 2026-07-28 extension. */
export type TaskFlavor = '2025-11-25' | 'extension';

/** The 2026-07-28 extension's task shape (`ttlMs`, `pollIntervalMs`; the result inline once ended). */
export interface ExtensionTask {
  readonly taskId: string;
  readonly status: TaskStatus;
  readonly createdAt: string;
  readonly lastUpdatedAt: string;
  readonly ttlMs: null;
  readonly pollIntervalMs: number;
  readonly statusMessage?: string;
  readonly result?: CallToolResult;
}

/** The answer to a task-augmented `tools/call`: the task, working (`CreateTaskResult` of either vocabulary). */
export function createTaskResult(task: StartedTask, flavor: TaskFlavor): CallToolResult {
  if (flavor === 'extension') {
    const created: ExtensionTask = { taskId: task.taskId, status: 'working', createdAt: task.createdAt, lastUpdatedAt: task.createdAt, ttlMs: null, pollIntervalMs: POLL_INTERVAL_MS };
    return { resultType: 'task', ...created } as unknown as CallToolResult;
  }
  const created: Task = { taskId: task.taskId, status: 'working', ttl: null, createdAt: task.createdAt, lastUpdatedAt: task.createdAt, pollInterval: POLL_INTERVAL_MS };
  return { task: created, content: [] };
}

/** The per-request envelope the SDK lifted out of a 2026-07-28 request's `_meta` (absent on older revisions), by its meta keys. */
interface EnvelopeCarrier {
  readonly mcpReq: { readonly envelope?: object };
}

function envelopeOf(ctx: EnvelopeCarrier): Record<string, unknown> | undefined {
  return ctx.mcpReq.envelope as Record<string, unknown> | undefined;
}

/** Whether the request's per-request client capabilities (2026-07-28) declare the tasks extension. */
export function declaresTasksExtension(ctx: EnvelopeCarrier): boolean {
  const caps = envelopeOf(ctx)?.[CLIENT_CAPABILITIES_META_KEY] as { extensions?: Record<string, unknown> } | undefined;
  return caps?.extensions?.[TASKS_EXTENSION] !== undefined;
}

/** Whether a request is of the 2026-07-28 revision (it carried the per-request envelope). */
export function isModernRequest(ctx: EnvelopeCarrier): boolean {
  return typeof envelopeOf(ctx)?.[PROTOCOL_VERSION_META_KEY] === 'string';
}

/**
 * `tasks/get`, `tasks/result`, `tasks/cancel` and `tasks/list` (MCP 2025-11-25) over the
 * tool-call workflows. Nothing is held in memory: a task is its workflow, found by the
 * caller's organization and the task id (`tool-call/<org>/<taskId>`), so any gateway
 * replica answers, also after the one that started it is gone, and another organization's
 * task id names no workflow at all ("task not found", whether or not it exists elsewhere).
 */
export class ToolTasks {
  constructor(
    private readonly temporal: Client,
    private readonly runner: WorkflowToolRunner,
  ) {}

  async get(principal: Principal, taskId: string): Promise<Task> {
    return toTask(taskId, await this.describe(principal, taskId));
  }

  /** Waits for the task to end and returns its `tools/call` result (a failed tool is an `isError` result). */
  async result(principal: Principal, taskId: string, exchange: ExchangeContext): Promise<CallToolResult> {
    return this.resultOf(taskId, await this.describe(principal, taskId), exchange);
  }

  private async resultOf(taskId: string, description: WorkflowExecutionDescription, exchange: ExchangeContext): Promise<CallToolResult> {
    const handle = this.temporal.workflow.getHandle(description.workflowId);
    const meta = { [RELATED_TASK]: { taskId } };
    try {
      const output = (await handle.result()) as ToolCallOutput;
      return { ...toCallToolResult(output), _meta: meta };
    } catch (err) {
      if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `task ${taskId} was cancelled: it has no result`);
      }
      const tool = findTool(String(description.typedSearchAttributes.get(SA.tool) ?? ''));
      if (!tool) throw err;
      return { ...this.runner.failure(err, tool, description.workflowId, exchange), _meta: meta };
    }
  }

  /**
   * `tasks/get` of the 2026-07-28 extension: the task with its result inline once it has
   * ended. A tool that failed completes with an `isError` result (the extension's `failed`
   * is for JSON-RPC errors only); a cancelled one has no result.
   */
  async getDetailed(principal: Principal, taskId: string, exchange: ExchangeContext): Promise<ExtensionTask> {
    const description = await this.describe(principal, taskId);
    const task = toTask(taskId, description);
    const base = { taskId, createdAt: task.createdAt, lastUpdatedAt: task.lastUpdatedAt, ttlMs: null, pollIntervalMs: POLL_INTERVAL_MS };
    if (task.status === 'working' || task.status === 'cancelled') return { ...base, status: task.status };
    const { _meta: _, ...result } = await this.resultOf(taskId, description, exchange);
    return { ...base, status: 'completed', result };
  }

  /** `tasks/update`: no Tollgate tool asks for input during a task, so there is nothing to deliver; the task must exist. */
  async update(principal: Principal, taskId: string): Promise<void> {
    await this.describe(principal, taskId);
  }

  /** Cancels a working task: the workflow is cancelled, its activity stops, its leases are released and its unit refunded. */
  async cancel(principal: Principal, taskId: string, opts: { alreadyEndedIsFine?: boolean } = {}): Promise<Task> {
    const description = await this.describe(principal, taskId);
    // The 2026 extension acknowledges a cancel of an ended task (cancellation is cooperative).
    if (description.status.name !== 'RUNNING' && opts.alreadyEndedIsFine) return toTask(taskId, description);
    if (description.status.name !== 'RUNNING') {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `task ${taskId} is already ${toTask(taskId, description).status}`);
    }
    await this.temporal.workflow.getHandle(description.workflowId).cancel();
    const now = new Date().toISOString();
    return { ...toTask(taskId, description), status: 'cancelled', lastUpdatedAt: now };
  }

  /** The organization's most recent tasks (newest first, up to 50); tasks of other organizations never appear. */
  async list(principal: Principal): Promise<{ tasks: Task[] }> {
    const runs: Task[] = [];
    // Visibility stores differ in ORDER BY support (the dev server's has none): sort here.
    for await (const run of this.temporal.workflow.list({ query: `${SA.orgId.name} = "${principal.orgId}"`, pageSize: 200 })) {
      const taskId = run.workflowId.split('/').at(-1) ?? '';
      if (TASK_ID.test(taskId)) runs.push(toTask(taskId, run));
      if (runs.length >= 1_000) break;
    }
    runs.sort((x, y) => y.createdAt.localeCompare(x.createdAt));
    return { tasks: runs.slice(0, 50) };
  }

  private async describe(principal: Principal, taskId: string): Promise<WorkflowExecutionDescription> {
    if (!TASK_ID.test(taskId)) throw notFound(taskId);
    try {
      return await this.temporal.workflow.getHandle(workflowIds.toolCall(principal.orgId, taskId)).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(taskId);
      throw err;
    }
  }
}

function notFound(taskId: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, `task not found: ${taskId.slice(0, 64)}`);
}

function toTask(taskId: string, run: Pick<WorkflowExecutionDescription, 'status' | 'startTime' | 'closeTime'>): Task {
  const status = STATUS[run.status.name] ?? 'working';
  return {
    taskId,
    status,
    ttl: null,
    createdAt: run.startTime.toISOString(),
    lastUpdatedAt: (run.closeTime ?? run.startTime).toISOString(),
    pollInterval: POLL_INTERVAL_MS,
    ...(status === 'failed' ? { statusMessage: `the call ${run.status.name === 'TIMED_OUT' ? 'timed out' : run.status.name === 'TERMINATED' ? 'was stopped by an operator' : 'failed'}` } : {}),
  };
}

const STATUS: Record<string, TaskStatus> = {
  RUNNING: 'working',
  CONTINUED_AS_NEW: 'working',
  COMPLETED: 'completed',
  FAILED: 'failed',
  TIMED_OUT: 'failed',
  TERMINATED: 'failed',
  CANCELLED: 'cancelled',
};

