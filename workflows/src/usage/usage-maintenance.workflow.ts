import { proxyActivities } from '@temporalio/workflow';
import type { UsageActivities, UsageMaintenanceResult } from '../../../core/temporal/contracts.js';

/**
 * One pass of usage maintenance, started by a Temporal Schedule (`TOLLGATE_USAGE_ROLLUP_EVERY`,
 * overlapping runs skipped): roll usage up per organization, user, tool and day, raise any
 * Redis quota counter that fell below Postgres's count, then move the watermark. Each
 * step is idempotent; a failed run leaves the watermark where it was, so the next run
 * covers its window again.
 */
export async function usageMaintenanceWorkflow(): Promise<UsageMaintenanceResult> {
  const acts = proxyActivities<UsageActivities>({
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
  });
  const window = await acts.usageWindow();
  const { days, rows } = await acts.rollUpUsage(window);
  const { organizations, countersRaised } = await acts.reconcileQuotas(window);
  await acts.advanceUsageWatermark(window);
  return { window, days, rows, organizations, countersRaised };
}
