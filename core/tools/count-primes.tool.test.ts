import { describe, expect, it } from 'vitest';
import { countPrimesTool } from './count-primes.tool.js';

const input = countPrimesTool.input;

describe('count_primes input', () => {
  it('fills in from and steps', () => {
    expect(input.parse({ to: 100 })).toEqual({ from: 0, to: 100, steps: 10 });
  });

  it('accepts to equal to from', () => {
    expect(input.safeParse({ from: 7, to: 7 }).success).toBe(true);
  });

  it('rejects to < from, naming the field', () => {
    const r = input.safeParse({ from: 100, to: 10 });
    expect(r.success).toBe(false);
    expect(r.error?.issues).toEqual([expect.objectContaining({ path: ['to'], message: 'to must be at least from' })]);
  });

  it('rejects out-of-range, fractional and unknown values', () => {
    expect(input.safeParse({}).success).toBe(false);
    expect(input.safeParse({ to: 0 }).success).toBe(false);
    expect(input.safeParse({ to: 100_000_000_001 }).success).toBe(false);
    expect(input.safeParse({ to: 100_000_000_000 }).success).toBe(true);
    expect(input.safeParse({ from: -1, to: 10 }).success).toBe(false);
    expect(input.safeParse({ to: 10.5 }).success).toBe(false);
    expect(input.safeParse({ to: 10, steps: 0 }).success).toBe(false);
    expect(input.safeParse({ to: 10, steps: 10_001 }).success).toBe(false);
    expect(input.safeParse({ to: 10, extra: true }).success).toBe(false);
    expect(input.safeParse({ to: '10' }).success).toBe(false);
  });
});
