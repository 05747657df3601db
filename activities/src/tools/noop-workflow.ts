import type { ToolInput, ToolOutput } from '../../../core/tools/define.js';
import type { noopWorkflowTool } from '../../../core/tools/noop.tool.js';
import type { WorkflowToolContext } from './workflow-tool.js';

/** Holds the call for `holdMs`, heartbeating so cancellation is noticed, then returns the times. */
export async function noopWorkflow({ holdMs }: ToolInput<typeof noopWorkflowTool>, ctx: WorkflowToolContext): Promise<ToolOutput<typeof noopWorkflowTool>> {
  const startedAt = Date.now();
  while (Date.now() - startedAt < holdMs) {
    ctx.throwIfCancelled();
    await new Promise((r) => setTimeout(r, Math.min(100, holdMs - (Date.now() - startedAt))));
    await ctx.yield();
  }
  return { startedAt, endedAt: Date.now() };
}
