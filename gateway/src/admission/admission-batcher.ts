import { acquireAndRelease, releaseMany, type AcquireResult, type PreparedAcquire, type RedisLike } from '../../../platform/redis/commands.js';

/** More calls of one shape than this in one turn go out as several script calls. */
const MAX_CALLS = 64;
/** More releases of one organization than this in one turn go out as several script calls. */
const MAX_RELEASES = 256;

interface Waiting<R> {
  readonly id: string;
  readonly resolve: (result: R) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Admission's Redis traffic of one event-loop turn, gathered and sent together at
 * `setImmediate` (right after the turn's I/O, so a lone call waits for nothing but the rest
 * of its turn):
 *
 * - decisions: one script call per call shape (the same key, IP and tool group: the same
 *   levels and fields). Under load a gateway reads several calls of one client per turn;
 *   decided together, they cost Redis one read and one write of the organization's state
 *   instead of one each, and the gateway one command. The script decides them in arrival
 *   order, each seeing what the ones before it charged, so the outcome is the one of sending
 *   them one at a time (docs/performance.md).
 * - releases of successful calls: they ride with a decision of the same organization sent
 *   in the same flush, released before it is decided (admission-acquire.lua); the rest go
 *   as one admission-release-many.lua call per organization. Under load calls end and
 *   start in the same turns, so most releases cost no command of their own.
 *
 * A failed script call fails every call and release it carried.
 */
export class AdmissionBatcher {
  private acquires = new Map<PreparedAcquire, Array<Waiting<AcquireResult>>>();
  private releases = new Map<string, Array<Waiting<boolean>>>();
  private scheduled = false;

  constructor(
    private readonly redis: RedisLike,
    /** Told how many calls every decision script call decided (a metric). */
    private readonly sent: (calls: number) => void = () => {},
  ) {}

  acquire(prepared: PreparedAcquire, leaseId: string): Promise<AcquireResult> {
    return this.add(this.acquires, prepared, leaseId);
  }

  /** Resolves true when the lease was live when released, false when it had expired or was gone. */
  release(hashKey: string, leaseId: string): Promise<boolean> {
    return this.add(this.releases, hashKey, leaseId);
  }

  private add<K, R>(pending: Map<K, Array<Waiting<R>>>, key: K, id: string): Promise<R> {
    return new Promise((resolve, reject) => {
      let waiting = pending.get(key);
      if (!waiting) {
        waiting = [];
        pending.set(key, waiting);
      }
      waiting.push({ id, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const { acquires, releases } = this;
    this.acquires = new Map();
    this.releases = new Map();
    this.scheduled = false;
    for (const [prepared, waiting] of acquires) {
      for (let from = 0; from < waiting.length; from += MAX_CALLS) {
        const calls = waiting.slice(from, from + MAX_CALLS);
        const carried = prepared.admissionHash === undefined ? [] : take(releases, prepared.admissionHash);
        this.sent(calls.length);
        acquireAndRelease(this.redis, prepared, ids(calls), ids(carried)).then(
          ({ results, live }) => {
            calls.forEach((w, i) => w.resolve(results[i]!));
            settleReleases(carried, live);
          },
          (err: unknown) => [...calls, ...carried].forEach((w) => w.reject(err)),
        );
      }
    }
    for (const [hashKey, waiting] of releases) {
      for (let from = 0; from < waiting.length; from += MAX_RELEASES) {
        const batch = waiting.slice(from, from + MAX_RELEASES);
        releaseMany(this.redis, hashKey, ids(batch)).then(
          (live) => settleReleases(batch, live),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        );
      }
    }
  }
}

/** Up to MAX_RELEASES of the releases pending for `hashKey`, taken out of `releases`. */
function take(releases: Map<string, Array<Waiting<boolean>>>, hashKey: string): Array<Waiting<boolean>> {
  const waiting = releases.get(hashKey);
  if (!waiting) return [];
  if (waiting.length <= MAX_RELEASES) {
    releases.delete(hashKey);
    return waiting;
  }
  return waiting.splice(0, MAX_RELEASES);
}

const ids = (waiting: ReadonlyArray<{ readonly id: string }>) => waiting.map((w) => w.id);

/** The scripts say how many releases found a live lease, not which: the lost ones are counted, not named. */
function settleReleases(batch: ReadonlyArray<Waiting<boolean>>, live: number): void {
  batch.forEach((w, i) => w.resolve(i < live));
}
