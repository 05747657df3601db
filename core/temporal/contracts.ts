/**
 * The Temporal contract between the gateway, workflows and activities: the only types
 * that cross those module boundaries. Everything here is plain JSON.
 */

/** Input of `toolCallWorkflow`: one call of one workflow-mode tool. */
export interface ToolCallInput {
  readonly callId: string;
  readonly requestId: string;
  readonly tool: string;
  /** Arguments already validated against the tool's input schema by the gateway. */
  readonly args: unknown;
  readonly orgId: string;
  readonly userId: string;
  readonly keyId: string;
  readonly plan: string;
  readonly timeouts: {
    readonly startToCloseMs: number;
    readonly heartbeatMs: number;
    readonly maxAttempts: number;
  };
}

/** What a workflow tool returns: MCP `CallToolResult` content in plain JSON. */
export interface ToolCallOutput {
  readonly structuredContent?: Record<string, unknown>;
  readonly text: string;
}

/** Progress of a running call, published by activities for the gateway that holds the caller. */
export interface ToolProgress {
  readonly progress: number;
  readonly total?: number;
  readonly message?: string;
}

/** Activities of the tool-calls task queue. */
export interface ToolCallActivities {
  /** Runs the tool's implementation with heartbeats, checkpoints and progress. */
  runWorkflowTool(input: ToolCallInput): Promise<ToolCallOutput>;
}

export const TOOL_CALL_WORKFLOW = 'toolCallWorkflow';

/** Signature of the workflow, so the gateway can start it by name with types. */
export type ToolCallWorkflow = (input: ToolCallInput) => Promise<ToolCallOutput>;
