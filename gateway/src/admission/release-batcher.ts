import { releaseMany, type RedisLike } from '../../../platform/redis/commands.js';

interface Pending {
  readonly leaseIds: string[];
  readonly settle: Array<{ resolve: (live: boolean) => void; reject: (err: unknown) => void }>;
}

/** More releases than this in one turn go out as several script calls. */
const MAX_BATCH = 256;

/**
 * Releases of successful calls, gathered over one event-loop turn and sent as one script
 * call per organization (admission-release-many.lua): under load a gateway ends several
 * calls per turn, and one call each would cost the gateway and Redis a command apiece.
 * The flush runs at `setImmediate`, before the next I/O is read, so a client that starts
 * its next call after this one's answer still finds the slot free.
 */
export class ReleaseBatcher {
  private pending = new Map<string, Pending>();
  private scheduled = false;

  constructor(private readonly redis: RedisLike) {}

  /** Resolves true when the lease was live when released, false when it had expired or was gone. */
  release(hashKey: string, leaseId: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let batch = this.pending.get(hashKey);
      if (!batch) {
        batch = { leaseIds: [], settle: [] };
        this.pending.set(hashKey, batch);
      }
      batch.leaseIds.push(leaseId);
      batch.settle.push({ resolve, reject });
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
    for (const [hashKey, { leaseIds, settle }] of batches) {
      for (let from = 0; from < leaseIds.length; from += MAX_BATCH) {
        const ids = leaseIds.slice(from, from + MAX_BATCH);
        const waiting = settle.slice(from, from + MAX_BATCH);
        releaseMany(this.redis, hashKey, ids).then(
          // The script says how many were live, not which: the lost ones are counted, not named.
          (live) => waiting.forEach((w, i) => w.resolve(i < live)),
          (err: unknown) => waiting.forEach((w) => w.reject(err)),
        );
      }
    }
  }
}
