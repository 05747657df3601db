import type { ToolDefinition } from './define.js';
import { countPrimesTool } from './count-primes.tool.js';
import { noopTool, noopWorkflowTool } from './noop.tool.js';
import { textStatsTool } from './text-stats.tool.js';
import { usageReportTool } from './usage-report.tool.js';

/**
 * Every tool the platform offers. Adding a tool: declare it in a `*.tool.ts` file, list
 * it here, and implement it in `gateway/src/tools/` (inline) or `activities/src/tools/`
 * (workflow). A test fails when a declared tool has no implementation.
 */
export const TOOL_CATALOG: readonly ToolDefinition[] = [textStatsTool, countPrimesTool, usageReportTool, noopTool, noopWorkflowTool];

const BY_NAME = new Map(TOOL_CATALOG.map((t) => [t.name, t]));
if (BY_NAME.size !== TOOL_CATALOG.length) throw new Error('duplicate tool name in TOOL_CATALOG');

export function findTool(name: string): ToolDefinition | undefined {
  return BY_NAME.get(name);
}
