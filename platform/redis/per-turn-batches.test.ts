import { describe, expect, it } from 'vitest';
import { PerTurnBatches } from './per-turn-batches.js';

/** A sender that records what it was sent and answers each item doubled, in a later turn. */
function recorder(fail?: (key: string) => boolean) {
  const sent: Array<{ key: string; items: number[] }> = [];
  const send = async (key: string, items: number[]) => {
    sent.push({ key, items });
    await new Promise((resolve) => setImmediate(resolve));
    if (fail?.(key)) throw new Error(`send ${key} failed`);
    return items.map((n) => n * 2);
  };
  return { sent, send };
}

describe('PerTurnBatches', () => {
  it('sends the items of one key added in one turn together, in order, and answers each its own result', async () => {
    const { sent, send } = recorder();
    const batches = new PerTurnBatches(send, 10);
    const results = await Promise.all([batches.add('a', 1), batches.add('b', 5), batches.add('a', 2), batches.add('a', 3)]);
    expect(results).toEqual([2, 10, 4, 6]);
    expect(sent).toEqual([
      { key: 'a', items: [1, 2, 3] },
      { key: 'b', items: [5] },
    ]);
  });

  it('splits a key’s items beyond the largest batch, and sends a later turn’s items apart', async () => {
    const { sent, send } = recorder();
    const batches = new PerTurnBatches(send, 2);
    expect(await Promise.all([1, 2, 3, 4, 5].map((n) => batches.add('a', n)))).toEqual([2, 4, 6, 8, 10]);
    expect(await batches.add('a', 6)).toBe(12);
    expect(sent.map((s) => s.items)).toEqual([[1, 2], [3, 4], [5], [6]]);
  });

  it('a failed send fails each of its items, and only those', async () => {
    const { send } = recorder((key) => key === 'bad');
    const batches = new PerTurnBatches(send, 10);
    const outcomes = await Promise.allSettled([batches.add('bad', 1), batches.add('good', 2), batches.add('bad', 3)]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'rejected']);
    expect((outcomes[0] as PromiseRejectedResult).reason).toEqual(new Error('send bad failed'));
    expect((outcomes[1] as PromiseFulfilledResult<number>).value).toBe(4);
  });
});
