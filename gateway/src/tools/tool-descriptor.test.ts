import { describe, expect, it } from 'vitest';
import { TOOL_CATALOG, findTool } from '../../../core/tools/catalog.js';
import { toolDescriptor } from './tool-descriptor.js';

interface ObjectSchema {
  type: string;
  properties: Record<string, { default?: unknown }>;
  required?: string[];
  additionalProperties?: unknown;
}

describe('toolDescriptor', () => {
  it.each(TOOL_CATALOG.map((t) => [t.name, t] as const))('describes %s with an object input schema', (_name, tool) => {
    const d = toolDescriptor(tool);
    expect(d.name).toBe(tool.name);
    expect(d.title).toBe(tool.title);
    expect(d.description).toBe(tool.description);
    expect(d.annotations).toEqual({ title: tool.title, ...tool.annotations });
    expect(d.inputSchema.type).toBe('object');
    if (tool.output) expect(d.outputSchema?.type).toBe('object');
  });

  it.each(TOOL_CATALOG.map((t) => [t.name, t] as const))('does not require the defaulted fields of %s', (_name, tool) => {
    const schema = toolDescriptor(tool).inputSchema as unknown as ObjectSchema;
    const defaulted = Object.entries(schema.properties)
      .filter(([, p]) => p.default !== undefined)
      .map(([k]) => k);
    for (const field of defaulted) expect(schema.required ?? []).not.toContain(field);
  });

  it('requires exactly the fields a caller must give, and closes the objects', () => {
    const countPrimes = toolDescriptor(findTool('count_primes')!).inputSchema as unknown as ObjectSchema;
    expect(countPrimes.required).toEqual(['to']);
    expect(countPrimes.properties.from?.default).toBe(0);
    expect(countPrimes.properties.steps?.default).toBe(10);
    expect(countPrimes.additionalProperties).toBe(false);

    const textStats = toolDescriptor(findTool('text_stats')!).inputSchema as unknown as ObjectSchema;
    expect(textStats.required).toEqual(['text']);
    expect(textStats.properties.topWords?.default).toBe(5);
    expect(textStats.additionalProperties).toBe(false);
  });

  it('builds each descriptor once', () => {
    const tool = TOOL_CATALOG[0]!;
    expect(toolDescriptor(tool)).toBe(toolDescriptor(tool));
  });
});
