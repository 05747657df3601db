import { describe, expect, it } from 'vitest';
import { WORKFLOW_TOOLS } from '../../activities/src/tools/index.js';
import { TOOL_CATALOG } from '../../core/tools/catalog.js';
import { INLINE_TOOLS } from '../../gateway/src/tools/inline-tools.js';

/** Every tool the catalog declares can actually run, where its mode says it runs. */
describe('tool implementations', () => {
  it.each(TOOL_CATALOG.map((t) => [t.name, t.mode] as const))('%s (%s) has an implementation', (name, mode) => {
    if (mode === 'inline') {
      expect(INLINE_TOOLS[name], `gateway/src/tools/inline-tools.ts lacks ${name}`).toBeTypeOf('function');
      expect(WORKFLOW_TOOLS[name]).toBeUndefined();
    } else {
      expect(WORKFLOW_TOOLS[name], `activities/src/tools/index.ts lacks ${name}`).toBeTypeOf('function');
      expect(INLINE_TOOLS[name]).toBeUndefined();
    }
  });

  it('implements nothing the catalog does not declare', () => {
    const declared = new Set(TOOL_CATALOG.map((t) => t.name));
    for (const name of [...Object.keys(INLINE_TOOLS), ...Object.keys(WORKFLOW_TOOLS)]) expect(declared).toContain(name);
  });
});
