import { z } from 'zod';
import { defineTool } from './define.js';

/**
 * A long-running workflow tool: counts the primes in a range with a segmented sieve, one
 * segment per step, reporting progress per step. Large ranges take minutes; the work is
 * checkpointed, so a crashed worker's successor resumes from the last finished segment.
 */
export const countPrimesTool = defineTool({
  name: 'count_primes',
  title: 'Count primes',
  description:
    'Counts the prime numbers in [from, to] and returns the count and the largest prime found. Runs durably in the background in steps and reports progress; large ranges take a while.',
  input: z
    .object({
      from: z.number().int().min(0).default(0).describe('Lower bound, inclusive.'),
      to: z
        .number()
        .int()
        .min(1)
        .max(100_000_000_000)
        .describe('Upper bound, inclusive (at most 100,000,000,000).'),
      steps: z.number().int().min(1).max(10_000).default(10).describe('How many segments to split the range into.'),
    })
    .strict()
    .refine((v) => v.to >= v.from, { message: 'to must be at least from', path: ['to'] }),
  output: z.object({
    from: z.number().int(),
    to: z.number().int(),
    count: z.number().int(),
    largestPrime: z.number().int().nullable(),
    steps: z.number().int(),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  mode: 'workflow',
  group: 'expensive',
  plans: ['pro', 'ultra'],
  workflow: { startToCloseMs: 60 * 60_000, heartbeatMs: 10_000, maxAttempts: 5, onDisconnect: 'cancel' },
});
