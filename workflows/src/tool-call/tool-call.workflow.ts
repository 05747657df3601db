import { ActivityCancellationType, isCancellation, proxyActivities, upsertSearchAttributes, log } from '@temporalio/workflow';
import { NON_RETRYABLE_CODES } from '../../../core/errors.js';
import { SA } from '../../../core/temporal/search-attributes.js';
import type { ToolCallActivities, ToolCallInput, ToolCallOutput } from '../../../core/temporal/contracts.js';

/**
 * One call of one `workflow` tool. The work runs in a single heartbeating activity that
 * checkpoints through its heartbeat details, so a crashed worker's successor resumes
 * where it stopped. Cancelling the workflow cancels the activity (it notices on its next
 * heartbeat) and the run ends as cancelled. The status search attribute follows the run.
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
  try {
    const output = await runWorkflowTool(input);
    upsertSearchAttributes([{ key: SA.callStatus, value: 'completed' }]);
    return output;
  } catch (err) {
    const cancelled = isCancellation(err);
    upsertSearchAttributes([{ key: SA.callStatus, value: cancelled ? 'cancelled' : 'failed' }]);
    log.info('tool call ended without a result', { tool: input.tool, cancelled });
    throw err;
  }
}
