import { acquireManyPrepared, type AcquireResult, type PreparedAcquire, type RedisLike } from '../../../platform/redis/commands.js';
import { PerTurnBatches } from '../../../platform/redis/per-turn-batches.js';

/** More calls of one shape than this in one turn go out as several script calls. */
const MAX_BATCH = 64;

/**
 * Admission decisions gathered over one event-loop turn and sent as one script call per
 * call shape (the same key, IP and tool group: the same levels and fields). Under load a
 * gateway reads several calls of one client per turn; decided together, they cost Redis one
 * read and one write of the organization's state instead of one each, and the gateway one
 * command (docs/performance.md). The script decides them in arrival order, each seeing what
 * the ones before it charged, so the outcome is the one of sending them one at a time.
 */
export class AcquireBatcher {
  private readonly batches: PerTurnBatches<PreparedAcquire, string, AcquireResult>;

  constructor(
    redis: RedisLike,
    /** Told the size of every batch sent (a metric). */
    sent: (calls: number) => void = () => {},
  ) {
    this.batches = new PerTurnBatches((prepared, leaseIds) => {
      sent(leaseIds.length);
      return acquireManyPrepared(redis, prepared, leaseIds);
    }, MAX_BATCH);
  }

  acquire(prepared: PreparedAcquire, leaseId: string): Promise<AcquireResult> {
    return this.batches.add(prepared, leaseId);
  }
}
