import { z } from 'zod';
import { defineTool } from './define.js';

const input = z
  .object({
    holdMs: z.number().int().min(0).max(30_000).default(0).describe('How long to hold the call open, in milliseconds (0 returns at once).'),
  })
  .strict();
const output = z.object({ startedAt: z.number().int(), endedAt: z.number().int() });

/**
 * Diagnostic tools for capacity tests, benchmarks and health checks: they do nothing but
 * (optionally) hold the call open, inline or as a Temporal workflow. No seeded plan
 * includes them; an operator enables them by listing them in a plan's allowedTools.
 */
export const noopTool = defineTool({
  name: 'noop',
  title: 'No-op (inline)',
  description: 'Does nothing, optionally holding the call open for holdMs milliseconds. For capacity tests and health checks.',
  input,
  output,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  mode: 'inline',
  group: 'core',
  plans: [],
});

export const noopWorkflowTool = defineTool({
  name: 'noop_workflow',
  title: 'No-op (workflow)',
  description: 'Does nothing as a durable Temporal workflow, optionally holding the call open for holdMs milliseconds. For capacity tests and benchmarks.',
  input,
  output,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  mode: 'workflow',
  group: 'core',
  plans: [],
  workflow: { startToCloseMs: 60_000, heartbeatMs: 10_000, maxAttempts: 3, onDisconnect: 'cancel' },
});
