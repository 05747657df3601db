import { z } from 'zod';
import { defineTool } from './define.js';

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC date, YYYY-MM-DD');
const MAX_DAYS = 93;

const Totals = z.object({
  calls: z.number().int(),
  units: z.number().int(),
  overageUnits: z.number().int(),
  errors: z.number().int(),
  avgLatencyMs: z.number(),
});

/**
 * A real expensive workflow tool: a usage report over the caller's own organization. It
 * reads the raw usage records page by page (isolated by row-level security: only the
 * caller's organization is visible to it), reports progress per page, and checkpoints the
 * running totals, so a crashed worker's successor resumes at the page it had reached.
 */
export const usageReportTool = defineTool({
  name: 'usage_report',
  title: 'Usage report',
  description:
    "Reports your organization's tool calls between two UTC dates: calls, billable units, overage units, errors and average latency, in total and per tool, per user and per day. Reads every call record, so long ranges take a while; progress is reported per page.",
  input: z
    .object({
      from: Day.describe('First day, inclusive (UTC, YYYY-MM-DD).'),
      to: Day.describe('Last day, inclusive (UTC, YYYY-MM-DD).'),
      pageSize: z.number().int().min(100).max(10_000).default(2_000).describe('Records read per page (one progress notification each).'),
    })
    .strict()
    .refine((v) => v.to >= v.from, { message: 'to must not be before from', path: ['to'] })
    .refine((v) => (Date.parse(`${v.to}T00:00:00Z`) - Date.parse(`${v.from}T00:00:00Z`)) / 86_400_000 < MAX_DAYS, {
      message: `at most ${MAX_DAYS} days per report`,
      path: ['to'],
    }),
  output: z.object({
    orgId: z.string(),
    from: z.string(),
    to: z.string(),
    total: Totals,
    byTool: z.array(Totals.extend({ tool: z.string() })),
    byUser: z.array(Totals.extend({ userId: z.string() })),
    byDay: z.array(Totals.extend({ day: z.string() })),
    pages: z.number().int(),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  mode: 'workflow',
  group: 'expensive',
  plans: ['pro', 'ultra'],
  workflow: { startToCloseMs: 30 * 60_000, heartbeatMs: 10_000, maxAttempts: 5, onDisconnect: 'continue' },
});
