import { describe, expect, it } from 'vitest';
import type { ToolProgress } from '../../../core/temporal/contracts.js';
import { basePrimes, countPrimes, sieveSegment } from './count-primes.js';
import type { WorkflowToolContext } from './workflow-tool.js';

interface Checkpoint {
  readonly nextStep: number;
  readonly count: number;
  readonly largestPrime: number | null;
}

/** A context that records progress and checkpoints; `cancelAfterProgress` makes throwIfCancelled throw after that many reports. */
function fakeContext(opts: { checkpoint?: Checkpoint; cancelAfterProgress?: number } = {}) {
  const reports: Array<{ progress: ToolProgress; checkpoint: Checkpoint }> = [];
  let yields = 0;
  const controller = new AbortController();
  const ctx: WorkflowToolContext<Checkpoint> = {
    checkpoint: opts.checkpoint,
    orgId: 'org_test',
    userId: 'usr_test',
    signal: controller.signal,
    async progress(progress, checkpoint) {
      reports.push({ progress, checkpoint });
      if (reports.length === opts.cancelAfterProgress) controller.abort(new Error('cancelled by the caller'));
    },
    async yield() {
      yields++;
    },
    throwIfCancelled() {
      controller.signal.throwIfAborted();
    },
    tenantDb() {
      throw new Error('count_primes reads no tenant data');
    },
  };
  return { ctx, reports, yields: () => yields };
}

/** Trial division: slow, obviously right. */
function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

describe('basePrimes', () => {
  it('lists the primes up to and including the limit', () => {
    expect(basePrimes(30)).toEqual([2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
    expect(basePrimes(29).at(-1)).toBe(29);
    expect(basePrimes(2)).toEqual([2]);
  });

  it('is empty below 2', () => {
    expect(basePrimes(1)).toEqual([]);
    expect(basePrimes(0)).toEqual([]);
  });

  it('finds 168 primes under 1000', () => {
    expect(basePrimes(1000)).toHaveLength(168);
  });
});

describe('sieveSegment', () => {
  it('counts π(100) = 25 with 97 the largest', () => {
    expect(sieveSegment(0, 100, basePrimes(10))).toEqual({ count: 25, largest: 97 });
  });

  it('counts π(10^6) = 78498 with 999983 the largest', () => {
    expect(sieveSegment(0, 1_000_000, basePrimes(1000))).toEqual({ count: 78_498, largest: 999_983 });
  });

  it('handles the smallest segments', () => {
    expect(sieveSegment(1, 1, [])).toEqual({ count: 0, largest: null });
    expect(sieveSegment(0, 0, [])).toEqual({ count: 0, largest: null });
    expect(sieveSegment(0, 2, basePrimes(1))).toEqual({ count: 1, largest: 2 });
    expect(sieveSegment(2, 2, basePrimes(1))).toEqual({ count: 1, largest: 2 });
    expect(sieveSegment(4, 4, basePrimes(2))).toEqual({ count: 0, largest: null });
    expect(sieveSegment(5, 3, basePrimes(2))).toEqual({ count: 0, largest: null });
  });

  it('does not count the base primes themselves as composites inside the segment', () => {
    expect(sieveSegment(2, 10, basePrimes(3))).toEqual({ count: 4, largest: 7 });
  });

  it('sieves ranges that do not start at 0', () => {
    expect(sieveSegment(90, 100, basePrimes(10))).toEqual({ count: 1, largest: 97 });
    expect(sieveSegment(24, 28, basePrimes(5))).toEqual({ count: 0, largest: null });
    // 999907, 999917, 999931, 999953, 999959, 999961, 999979, 999983
    expect(sieveSegment(999_900, 1_000_000, basePrimes(1000))).toEqual({ count: 8, largest: 999_983 });
    expect(sieveSegment(999_900, 1_000_000, basePrimes(1000)).count).toBe(
      Array.from({ length: 101 }, (_, i) => 999_900 + i).filter(isPrime).length,
    );
  });

  it('agrees with trial division on every small range', () => {
    const base = basePrimes(50);
    for (let lo = 0; lo <= 60; lo++) {
      for (let hi = lo; hi <= 60; hi++) {
        const expected = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i).filter(isPrime);
        expect(sieveSegment(lo, hi, base), `[${lo}, ${hi}]`).toEqual({
          count: expected.length,
          largest: expected.at(-1) ?? null,
        });
      }
    }
  });
});

describe('countPrimes', () => {
  it('counts the primes in a range and reports progress once per step', async () => {
    const { ctx, reports } = fakeContext();
    const result = await countPrimes({ from: 0, to: 1_000_000, steps: 4 }, ctx);
    expect(result).toEqual({ from: 0, to: 1_000_000, count: 78_498, largestPrime: 999_983, steps: 4 });
    expect(reports.map((r) => r.progress.progress)).toEqual([1, 2, 3, 4]);
    expect(reports.every((r) => r.progress.total === 4)).toBe(true);
    expect(reports.at(-1)?.progress.message).toBe('sieved up to 1,000,000');
    expect(reports.map((r) => r.checkpoint.nextStep)).toEqual([1, 2, 3, 4]);
    const counts = reports.map((r) => r.checkpoint.count);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(reports.at(-1)?.checkpoint).toEqual({ nextStep: 4, count: 78_498, largestPrime: 999_983 });
  });

  it('gives every number to exactly one step', async () => {
    const { ctx } = fakeContext();
    const result = await countPrimes({ from: 13, to: 1_000, steps: 7 }, ctx);
    let expected = 0;
    for (let n = 13; n <= 1_000; n++) if (isPrime(n)) expected++;
    expect(result).toMatchObject({ count: expected, largestPrime: 997, steps: 7 });
  });

  it('runs no more steps than there are numbers', async () => {
    const { ctx, reports } = fakeContext();
    const result = await countPrimes({ from: 5, to: 7, steps: 10 }, ctx);
    expect(result).toEqual({ from: 5, to: 7, count: 2, largestPrime: 7, steps: 3 });
    expect(reports.map((r) => [r.progress.progress, r.progress.total])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
  });

  it('is exact near the largest allowed bound', async () => {
    const from = 100_000_000_000 - 200;
    const to = 100_000_000_000;
    const primes = Array.from({ length: to - from + 1 }, (_, i) => from + i).filter(isPrime);
    const { ctx } = fakeContext();
    expect(await countPrimes({ from, to, steps: 3 }, ctx)).toEqual({ from, to, count: primes.length, largestPrime: primes.at(-1), steps: 3 });
  });

  it('reports no largest prime for a range without primes', async () => {
    const { ctx } = fakeContext();
    expect(await countPrimes({ from: 24, to: 28, steps: 2 }, ctx)).toEqual({ from: 24, to: 28, count: 0, largestPrime: null, steps: 2 });
  });

  it('yields to the event loop while it works', async () => {
    const { ctx, yields } = fakeContext();
    await countPrimes({ from: 0, to: 100, steps: 3 }, ctx);
    expect(yields()).toBeGreaterThanOrEqual(3);
  });

  it('resumes from a checkpoint with the same answer as a full run', async () => {
    const args = { from: 1_000, to: 500_000, steps: 6 };
    const full = fakeContext();
    const expected = await countPrimes(args, full.ctx);

    for (const cut of [1, 3, 5]) {
      const checkpoint = full.reports[cut - 1]!.checkpoint;
      const resumed = fakeContext({ checkpoint });
      expect(await countPrimes(args, resumed.ctx)).toEqual(expected);
      // Only the steps after the checkpoint run again.
      expect(resumed.reports.map((r) => r.progress.progress)).toEqual(full.reports.slice(cut).map((r) => r.progress.progress));
    }
  });

  it("keeps the checkpoint's largest prime when the remaining steps find none", async () => {
    // [19, 28] in 2 steps: [19, 23] holds 19 and 23; [24, 28] holds no prime.
    const resumed = fakeContext({ checkpoint: { nextStep: 1, count: 2, largestPrime: 23 } });
    expect(await countPrimes({ from: 19, to: 28, steps: 2 }, resumed.ctx)).toEqual({ from: 19, to: 28, count: 2, largestPrime: 23, steps: 2 });
    expect(resumed.reports.map((r) => r.progress.progress)).toEqual([2]);
  });

  it('stops when cancelled', async () => {
    const { ctx, reports } = fakeContext({ cancelAfterProgress: 2 });
    await expect(countPrimes({ from: 0, to: 100_000, steps: 5 }, ctx)).rejects.toThrow('cancelled by the caller');
    expect(reports).toHaveLength(2);
  });

  it('does not start when already cancelled', async () => {
    const { ctx, reports } = fakeContext();
    const cancelled: WorkflowToolContext<Checkpoint> = {
      ...ctx,
      throwIfCancelled() {
        throw new Error('already cancelled');
      },
    };
    await expect(countPrimes({ from: 0, to: 100, steps: 2 }, cancelled)).rejects.toThrow('already cancelled');
    expect(reports).toHaveLength(0);
  });
});
