import { describe, expect, it } from 'vitest';
import { TOOL_CATALOG, findTool } from './catalog.js';

describe('TOOL_CATALOG', () => {
  it('finds every tool by its name and nothing else', () => {
    for (const tool of TOOL_CATALOG) expect(findTool(tool.name)).toBe(tool);
    expect(findTool('no_such_tool')).toBeUndefined();
    expect(findTool('')).toBeUndefined();
  });

  it('gives every workflow tool durable-execution settings', () => {
    for (const tool of TOOL_CATALOG.filter((t) => t.mode === 'workflow')) {
      expect(tool.workflow, tool.name).toBeDefined();
      expect(tool.workflow!.heartbeatMs).toBeLessThan(tool.workflow!.startToCloseMs);
    }
  });

  it('offers every tool to at least one plan, except the diagnostic no-ops (enabled per plan by operators)', () => {
    for (const tool of TOOL_CATALOG) {
      if (tool.name === 'noop' || tool.name === 'noop_workflow') expect(tool.plans, tool.name).toEqual([]);
      else expect(tool.plans.length, tool.name).toBeGreaterThan(0);
    }
  });
});
