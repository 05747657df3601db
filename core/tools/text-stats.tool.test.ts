import { describe, expect, it } from 'vitest';
import { textStatsTool } from './text-stats.tool.js';

const input = textStatsTool.input;

describe('text_stats input', () => {
  it('defaults topWords to 5', () => {
    expect(input.parse({ text: 'hello' })).toEqual({ text: 'hello', topWords: 5 });
  });

  it('accepts text of exactly 200,000 characters and rejects one more', () => {
    expect(input.safeParse({ text: 'a'.repeat(200_000) }).success).toBe(true);
    expect(input.safeParse({ text: 'a'.repeat(200_001) }).success).toBe(false);
  });

  it('rejects unknown fields', () => {
    expect(input.safeParse({ text: 'hello', language: 'en' }).success).toBe(false);
  });

  it('rejects a missing text and an out-of-range topWords', () => {
    expect(input.safeParse({}).success).toBe(false);
    expect(input.safeParse({ text: 'x', topWords: 51 }).success).toBe(false);
    expect(input.safeParse({ text: 'x', topWords: -1 }).success).toBe(false);
    expect(input.safeParse({ text: 'x', topWords: 2.5 }).success).toBe(false);
  });
});
