interface Waiting<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Items gathered per key over one event-loop turn and sent together: `send` gets the items
 * of one key (at most `maxBatch` at a time, in the order they were added) and answers one
 * result per item, in order; a failed send fails each of its items. The flush runs at
 * `setImmediate`, right after the turn's I/O, so a lone item waits for nothing but the rest
 * of the turn it arrived in.
 */
export class PerTurnBatches<K, T, R> {
  private pending = new Map<K, Array<Waiting<T, R>>>();
  private scheduled = false;

  constructor(
    private readonly send: (key: K, items: T[]) => Promise<readonly R[]>,
    private readonly maxBatch: number,
  ) {}

  add(key: K, item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      let waiting = this.pending.get(key);
      if (!waiting) {
        waiting = [];
        this.pending.set(key, waiting);
      }
      waiting.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batches = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    for (const [key, waiting] of batches) {
      for (let from = 0; from < waiting.length; from += this.maxBatch) {
        const batch = waiting.slice(from, from + this.maxBatch);
        this.send(
          key,
          batch.map((w) => w.item),
        ).then(
          (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        );
      }
    }
  }
}
