// Workflow bundle entry: re-exports only. Workflow code imports `core` and
// `@temporalio/workflow` and nothing that does I/O (lint enforces it).
export { toolCallWorkflow } from './tool-call/tool-call.workflow.js';
export { usageMaintenanceWorkflow } from './usage/usage-maintenance.workflow.js';
export { subscriptionWorkflow } from './billing/subscription.workflow.js';
export { subscriptionSweepWorkflow } from './billing/subscription-sweep.workflow.js';
