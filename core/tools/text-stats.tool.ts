import { z } from 'zod';
import { defineTool } from './define.js';

/** A fast inline tool: counts and reading time for a piece of text. */
export const textStatsTool = defineTool({
  name: 'text_stats',
  title: 'Text statistics',
  description:
    'Counts characters, words, sentences and lines in a text, estimates its reading time, and lists its most frequent words.',
  input: z
    .object({
      text: z.string().max(200_000).describe('The text to analyse (at most 200,000 characters).'),
      topWords: z.number().int().min(0).max(50).default(5).describe('How many of the most frequent words to return.'),
    })
    .strict(),
  output: z.object({
    characters: z.number().int(),
    words: z.number().int(),
    sentences: z.number().int(),
    lines: z.number().int(),
    readingTimeSeconds: z.number().int(),
    topWords: z.array(z.object({ word: z.string(), count: z.number().int() })),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  mode: 'inline',
  group: 'core',
  plans: ['free', 'pro', 'ultra'],
});
