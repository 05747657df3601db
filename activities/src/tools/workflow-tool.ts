import type { ToolProgress } from '../../../core/temporal/contracts.js';
import type { Db } from '../../../platform/tenancy/db-context.js';

/**
 * What a workflow tool's implementation gets: its last checkpoint (after a retry on
 * another worker), a way to report progress (which also checkpoints and heartbeats),
 * and cancellation. Implementations are plain async functions: adding a tool is one
 * function and one catalog entry.
 */
export interface WorkflowToolContext<C = unknown> {
  /** The checkpoint of the previous attempt, if this is a retry. */
  readonly checkpoint: C | undefined;
  readonly orgId: string;
  readonly userId: string;
  /** Aborted when the call is cancelled (noticed through heartbeats). */
  readonly signal: AbortSignal;
  /** Reports progress to the caller and records `checkpoint` for a retry to resume from. */
  progress(progress: ToolProgress, checkpoint: C): Promise<void>;
  /** Heartbeats and lets the event loop run (so cancellation and heartbeats get through). */
  yield(): Promise<void>;
  /** Throws the cancellation if the call was cancelled. */
  throwIfCancelled(): void;
  /**
   * Runs `fn` in one transaction scoped to the caller's organization: row-level security
   * shows and accepts only its rows, whatever the query says.
   */
  tenantDb<T>(fn: (db: Db) => Promise<T>): Promise<T>;
}

export type WorkflowToolImpl = (args: never, ctx: WorkflowToolContext<never>) => Promise<unknown>;
