import { releaseMany, type RedisLike } from '../../../platform/redis/commands.js';
import { PerTurnBatches } from '../../../platform/redis/per-turn-batches.js';

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
  private readonly batches: PerTurnBatches<string, string, boolean>;

  constructor(redis: RedisLike) {
    this.batches = new PerTurnBatches(async (hashKey, leaseIds) => {
      // The script says how many were live, not which: the lost ones are counted, not named.
      const live = await releaseMany(redis, hashKey, leaseIds);
      return leaseIds.map((_, i) => i < live);
    }, MAX_BATCH);
  }

  /** Resolves true when the lease was live when released, false when it had expired or was gone. */
  release(hashKey: string, leaseId: string): Promise<boolean> {
    return this.batches.add(hashKey, leaseId);
  }
}
