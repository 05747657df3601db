import { ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, log, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { ERRORS, NON_RETRYABLE_CODES, type ErrorCode } from '../../../core/errors.js';
import { SA } from '../../../core/temporal/search-attributes.js';
import type { CallOutcome, ToolCallActivities, ToolCallInput, ToolCallOutput } from '../../../core/temporal/contracts.js';

/**
 * One call of one `workflow` tool. The work runs in a single heartbeating activity that
 * checkpoints through its heartbeat details, so a crashed worker's successor resumes
 * where it stopped. Cancelling the workflow cancels the activity (it notices on its next
 * heartbeat) and the run ends as cancelled. The status search attribute follows the run.
 *
 * The call's admission and metering follow the work: however the run ends — and whether or
 * not the gateway that started it still exists — it settles the call (leases released,
 * quota refunded unless it succeeded, usage recorded once) before it closes.
 */
export async function toolCallWorkflow(input: ToolCallInput): Promise<ToolCallOutput> {
  const { runWorkflowTool } = proxyActivities<ToolCallActivities>({
    startToCloseTimeout: input.timeouts.startToCloseMs,
    heartbeatTimeout: input.timeouts.heartbeatMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: input.timeouts.maxAttempts,
      initialInterval: '1 second',
      nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
    },
  });
  // Settling must happen, however long Redis or Postgres take to come back.
  const { settleToolCall } = proxyActivities<ToolCallActivities>({ startToCloseTimeout: '30 seconds', retry: { initialInterval: '1 second', maximumInterval: '30 seconds' } });
  let outcome: CallOutcome = 'failed';
  try {
    const output = await runWorkflowTool(input);
    outcome = 'ok';
    upsertSearchAttributes([{ key: SA.callStatus, value: 'completed' }]);
    return output;
  } catch (err) {
    const cancelled = isCancellation(err);
    outcome = cancelled ? 'cancelled' : isCallersFault(err) ? 'tool_error' : 'failed';
    upsertSearchAttributes([{ key: SA.callStatus, value: cancelled ? 'cancelled' : 'failed' }]);
    log.info('tool call ended without a result', { tool: input.tool, cancelled });
    throw err;
  } finally {
    // Runs started before settlement moved here carry none (their gateway settled them).
    if (input.settlement) {
      const endedAt = Date.now();
      await CancellationScope.nonCancellable(() => settleToolCall({ call: input, outcome, endedAt }));
    }
  }
}

/** A refusal the caller caused (bad arguments, not found, ...): a `tool_error`, as inline tools count it. */
function isCallersFault(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure) || !cause.type || !(cause.type in ERRORS)) return false;
  return ERRORS[cause.type as ErrorCode].http < 500;
}
