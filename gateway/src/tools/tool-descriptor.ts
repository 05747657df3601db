import { z } from 'zod';
import type { Tool } from '@modelcontextprotocol/server';
import type { ToolDefinition } from '../../../core/tools/define.js';

const cache = new WeakMap<ToolDefinition, Tool>();

/**
 * The MCP `Tool` object for a catalog entry: JSON Schema derived once from its zod
 * schemas. Inputs use the *input* view, so fields with defaults are optional to callers.
 */
export function toolDescriptor(def: ToolDefinition): Tool {
  let tool = cache.get(def);
  if (!tool) {
    tool = {
      name: def.name,
      title: def.title,
      description: def.description,
      inputSchema: z.toJSONSchema(def.input, { io: 'input', unrepresentable: 'any' }) as Tool['inputSchema'],
      ...(def.output ? { outputSchema: z.toJSONSchema(def.output, { io: 'output', unrepresentable: 'any' }) } : {}),
      annotations: { title: def.title, ...def.annotations },
      // Workflow tools may run as MCP tasks (2025-11-25): the result is fetched later, from any gateway.
      ...(def.mode === 'workflow' ? { execution: { taskSupport: 'optional' as const } } : {}),
    };
    cache.set(def, tool);
  }
  return tool;
}
