import type { ToolInput, ToolOutput } from '../../../core/tools/define.js';
import type { countPrimesTool } from '../../../core/tools/count-primes.tool.js';
import type { WorkflowToolContext } from './workflow-tool.js';

type Input = ToolInput<typeof countPrimesTool>;
type Output = ToolOutput<typeof countPrimesTool>;

/** Checkpoint carried in heartbeat details: the next step to run and the totals so far. */
interface Checkpoint {
  readonly nextStep: number;
  readonly count: number;
  readonly largestPrime: number | null;
}

/** Numbers sieved between two event-loop yields, so heartbeats and cancellation flow. */
const CHUNK = 2_000_000;

/**
 * Counts primes in [from, to] with a segmented sieve: the range is split into `steps`
 * segments; each segment is sieved in chunks, and progress is reported after each step.
 */
export async function countPrimes(args: Input, ctx: WorkflowToolContext<Checkpoint>): Promise<Output> {
  const { from, to } = args;
  const steps = Math.max(1, Math.min(args.steps, to - from + 1));
  const base = basePrimes(Math.floor(Math.sqrt(to)));
  const width = (to - from + 1) / steps;
  let state: Checkpoint = ctx.checkpoint ?? { nextStep: 0, count: 0, largestPrime: null };
  for (let step = state.nextStep; step < steps; step++) {
    const lo = from + Math.floor(step * width);
    const hi = step === steps - 1 ? to : from + Math.floor((step + 1) * width) - 1;
    let count = state.count;
    let largest = state.largestPrime;
    for (let start = lo; start <= hi; start += CHUNK) {
      ctx.throwIfCancelled();
      const end = Math.min(hi, start + CHUNK - 1);
      const r = sieveSegment(start, end, base);
      count += r.count;
      if (r.largest !== null) largest = r.largest;
      await ctx.yield();
    }
    state = { nextStep: step + 1, count, largestPrime: largest };
    await ctx.progress({ progress: step + 1, total: steps, message: `sieved up to ${hi.toLocaleString('en-US')}` }, state);
  }
  return { from, to, count: state.count, largestPrime: state.largestPrime, steps };
}

/** Primes up to `limit` (inclusive) by the sieve of Eratosthenes. */
export function basePrimes(limit: number): number[] {
  if (limit < 2) return [];
  const composite = new Uint8Array(limit + 1);
  const primes: number[] = [];
  for (let i = 2; i <= limit; i++) {
    if (composite[i]) continue;
    primes.push(i);
    for (let j = i * i; j <= limit; j += i) composite[j] = 1;
  }
  return primes;
}

/** Count and largest prime in [lo, hi], given every prime up to sqrt(hi). */
export function sieveSegment(lo: number, hi: number, base: readonly number[]): { count: number; largest: number | null } {
  if (hi < 2 || hi < lo) return { count: 0, largest: null };
  const start = Math.max(lo, 2);
  const composite = new Uint8Array(hi - start + 1);
  for (const p of base) {
    if (p * p > hi) break;
    let m = Math.max(p * p, Math.ceil(start / p) * p);
    for (; m <= hi; m += p) composite[m - start] = 1;
  }
  let count = 0;
  let largest: number | null = null;
  for (let i = 0; i < composite.length; i++) {
    if (!composite[i]) {
      count++;
      largest = start + i;
    }
  }
  return { count, largest };
}
