import { proxyActivities } from '@temporalio/workflow';
import type { BillingActivities } from '../../../core/temporal/billing-contract.js';

const { startMissingSubscriptions } = proxyActivities<BillingActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * Started by a Schedule (`TOLLGATE_SUBSCRIPTION_SWEEP_EVERY`): every organization gets its
 * subscription workflow, however it was created (the admin API, the CLI, a personal
 * organization made by SQL), so every billing period ends on time.
 */
export async function subscriptionSweepWorkflow(): Promise<{ started: number }> {
  return startMissingSubscriptions();
}
