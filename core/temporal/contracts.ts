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
  /**
   * The call's admission and metering, handed to the workflow so they follow the work rather
   * than the gateway that started it: the activity renews the concurrency leases while it
   * runs, and the workflow releases them (refunding the quota unless the call succeeded)
   * and writes the usage record when it ends. Absent in runs started before this existed.
   */
  readonly settlement?: CallSettlement;
}

export interface CallSettlement {
  /** Concurrency leases held under the call id; null when admission ran in process (Redis down). */
  readonly lease: { readonly keys: readonly string[]; readonly ttlMs: number; readonly quotas: readonly { readonly key: string; readonly field: string }[] } | null;
  /** The usage record's fixed part; outcome, units and times are set when the call ends. */
  readonly usage: {
    readonly tier: string;
    readonly overage: boolean;
    readonly transport: 'http' | 'ws';
    /** Epoch milliseconds, when the gateway admitted the call. */
    readonly startedAt: number;
  };
}

/** How a call ended, as the usage record says it. */
export type CallOutcome = 'ok' | 'tool_error' | 'failed' | 'cancelled';

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
  /** Runs the tool's implementation with heartbeats, checkpoints and progress (renewing the call's leases). */
  runWorkflowTool(input: ToolCallInput): Promise<ToolCallOutput>;
  /** Releases the call's leases (refunding its quota unless it succeeded) and records its usage, once. */
  settleToolCall(input: { call: ToolCallInput; outcome: CallOutcome; endedAt: number }): Promise<void>;
}

export const TOOL_CALL_WORKFLOW = 'toolCallWorkflow';

/** Signature of the workflow, so the gateway can start it by name with types. */
export type ToolCallWorkflow = (input: ToolCallInput) => Promise<ToolCallOutput>;

/** The window of usage a maintenance run covers: ingested since `since` up to `until` (ISO). */
export interface UsageWindow {
  readonly since: string;
  readonly until: string;
}

export interface UsageMaintenanceResult {
  readonly window: UsageWindow;
  /** Days recomputed and rollup rows written. */
  readonly days: number;
  readonly rows: number;
  /** Organizations whose quota counters were checked, and counters raised to Postgres's count. */
  readonly organizations: number;
  readonly countersRaised: number;
}

/** Activities of the billing task queue that keep usage rolled up and quotas reconciled. */
export interface UsageActivities {
  /** The window since the previous run (with a margin) up to the database's now. */
  usageWindow(): Promise<UsageWindow>;
  rollUpUsage(window: UsageWindow): Promise<{ days: number; rows: number }>;
  /** Raises Redis quota counters that are below what Postgres counted for the organizations with new usage. */
  reconcileQuotas(window: UsageWindow): Promise<{ organizations: number; countersRaised: number }>;
  /** Records that everything ingested up to `window.until` is processed. */
  advanceUsageWatermark(window: UsageWindow): Promise<void>;
}

export const USAGE_MAINTENANCE_WORKFLOW = 'usageMaintenanceWorkflow';
