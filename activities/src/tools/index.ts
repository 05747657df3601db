import { countPrimes } from './count-primes.js';
import { noopWorkflow } from './noop-workflow.js';
import { usageReport } from './usage-report.js';
import type { WorkflowToolImpl } from './workflow-tool.js';

/** Implementations of the catalog's `workflow` tools, by name. */
export const WORKFLOW_TOOLS: Readonly<Record<string, WorkflowToolImpl>> = {
  count_primes: countPrimes,
  noop_workflow: noopWorkflow,
  usage_report: usageReport,
};
