import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { SUBSCRIPTION_SWEEP_WORKFLOW } from '../../core/temporal/billing-contract.js';
import { USAGE_MAINTENANCE_WORKFLOW } from '../../core/temporal/contracts.js';

/**
 * The usage maintenance Schedule (rollups and quota reconciliation every `everyMs`), created
 * when missing and brought in line with the configuration when it differs. Idempotent: every
 * billing worker calls it at start. Overlapping runs are skipped; runs missed while Temporal
 * was unavailable are not caught up (the next run covers their window).
 */
export async function ensureUsageSchedule(client: Client, opts: { scheduleId: string; taskQueue: string; everyMs: number }): Promise<'created' | 'updated'> {
  return ensureIntervalSchedule(client, { ...opts, workflowType: USAGE_MAINTENANCE_WORKFLOW });
}

/** A Schedule starting `workflowType` every `everyMs` (no overlap, no catch-up), created or brought up to date. */
async function ensureIntervalSchedule(client: Client, opts: { scheduleId: string; taskQueue: string; everyMs: number; workflowType: string }): Promise<'created' | 'updated'> {
  const spec = { intervals: [{ every: opts.everyMs }] };
  const action = { type: 'startWorkflow' as const, workflowType: opts.workflowType, taskQueue: opts.taskQueue, workflowId: opts.scheduleId, args: [] };
  try {
    await client.schedule.create({
      scheduleId: opts.scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(opts.scheduleId).update((previous) => ({ ...previous, spec, action }));
    return 'updated';
  }
}

/**
 * The subscription sweep Schedule: every `everyMs`, organizations without a subscription
 * workflow get one (so every period ends on time, however the organization was created).
 */
export async function ensureSubscriptionSweepSchedule(client: Client, opts: { scheduleId: string; taskQueue: string; everyMs: number }): Promise<'created' | 'updated'> {
  return ensureIntervalSchedule(client, { ...opts, workflowType: SUBSCRIPTION_SWEEP_WORKFLOW });
}
