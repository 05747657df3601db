import type { z } from 'zod';

/** Hints for clients about a tool's behaviour (MCP `ToolAnnotations`). */
export interface ToolAnnotations {
  readonly readOnlyHint?: boolean;
  readonly destructiveHint?: boolean;
  readonly idempotentHint?: boolean;
  readonly openWorldHint?: boolean;
}

/** How a tool runs: in the gateway process, or as one Temporal workflow per call. */
export type ExecutionMode = 'inline' | 'workflow';
/** Which admission limits apply: `expensive` tools have their own, stricter ones. */
export type ToolGroup = 'core' | 'expensive';

/** Durable-execution settings of a `workflow` tool. */
export interface WorkflowToolOptions {
  /** Longest a single attempt of the tool's activity may run. */
  readonly startToCloseMs: number;
  /** The activity must heartbeat at least this often, or Temporal retries it elsewhere. */
  readonly heartbeatMs: number;
  /** Attempts before the call fails (non-retryable error codes fail at once). */
  readonly maxAttempts: number;
  /**
   * What a closed WebSocket or HTTP stream does to a running call: `cancel` stops the
   * workflow; `continue` lets it finish so the result can be fetched later.
   */
  readonly onDisconnect: 'cancel' | 'continue';
}

/**
 * A tool as the catalog declares it: everything the gateway needs to list it, validate a
 * call, authorize it per plan, and route it. The implementation lives elsewhere: inline
 * tools in `gateway/src/tools/`, workflow tools in `activities/src/tools/`.
 */
export interface ToolDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly input: I;
  readonly output?: O;
  readonly annotations: ToolAnnotations;
  readonly mode: ExecutionMode;
  readonly group: ToolGroup;
  /** Plans that may use the tool unless a plan lists its tools explicitly. */
  readonly plans: readonly string[];
  readonly workflow?: WorkflowToolOptions;
}

export type ToolInput<T extends ToolDefinition> = z.output<T['input']>;
export type ToolOutput<T extends ToolDefinition> = NonNullable<T['output']> extends z.ZodType ? z.output<NonNullable<T['output']>> : unknown;

const NAME = /^[a-z][a-z0-9_]{1,63}$/;

export function defineTool<I extends z.ZodType, O extends z.ZodType>(def: ToolDefinition<I, O>): ToolDefinition<I, O> {
  if (!NAME.test(def.name)) throw new Error(`tool name ${JSON.stringify(def.name)} must match ${NAME}`);
  if (def.mode === 'workflow' && !def.workflow) throw new Error(`workflow tool ${def.name} needs workflow options`);
  return Object.freeze(def);
}
