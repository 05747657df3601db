import { acquireAndRelease, releaseMany, type AcquireResult, type PreparedAcquire, type RedisLike } from '../../../platform/redis/commands.js';

/** More calls of one shape than this in one turn go out as several script calls. */
const MAX_CALLS = 64;
/** More releases of one organization than this in one turn go out as several script calls. */
const MAX_RELEASES = 256;
/** How long a release waits for a decision of its organization to ride with, by default. */
const RIDE_WAIT_MS = 5;

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
 *   in the same flush, released before it is decided (admission-acquire.lua). Calls end in
 *   the turn their decision's reply arrives, and the next calls are read a client's round
 *   trip later, so a release waits up to `rideWaitMs` (5 ms) for a decision of its
 *   organization; under load most ride and cost no command of their own. The others go
 *   then, one admission-release-many.lua call per organization. The price: for those few
 *   ms the slot still looks taken to other gateways (this gateway's next call of the
 *   organization carries the release, and is decided after it).
 *
 * A failed script call fails every call and release it carried. `close` sends everything
 * pending at once and waits for it.
 */
export class AdmissionBatcher {
  private acquires = new Map<PreparedAcquire, Array<Waiting<AcquireResult>>>();
  /** Releases waiting for a ride, by organization (its admission hash), oldest first. */
  private releases = new Map<string, Array<Waiting<boolean>>>();
  private scheduled = false;
  /** Sends the releases that found no ride; armed while some wait. */
  private rideTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: RedisLike,
    /** Told how many calls every decision script call decided (a metric). */
    private readonly sent: (calls: number) => void = () => {},
    private readonly rideWaitMs = RIDE_WAIT_MS,
  ) {}

  acquire(prepared: PreparedAcquire, leaseId: string): Promise<AcquireResult> {
    const result = this.add(this.acquires, prepared, leaseId);
    this.schedule();
    return result;
  }

  /** Resolves true when the lease was live when released, false when it had expired or was gone. */
  release(hashKey: string, leaseId: string): Promise<boolean> {
    const released = this.add(this.releases, hashKey, leaseId);
    if (this.closed) this.schedule();
    else this.rideTimer ??= setTimeout(() => void this.sendReleases(), this.rideWaitMs);
    return released;
  }

  /** Sends everything pending now, releases included (none waits for a ride any more), and waits for it. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.flush(), ...this.sendReleases()]);
  }

  private add<K, R>(pending: Map<K, Array<Waiting<R>>>, key: K, id: string): Promise<R> {
    return new Promise((resolve, reject) => {
      let waiting = pending.get(key);
      if (!waiting) {
        waiting = [];
        pending.set(key, waiting);
      }
      waiting.push({ id, resolve, reject });
    });
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Sends the decisions gathered this turn, each with the releases of its organization that wait; returns what it sent. */
  private flush(): Array<Promise<unknown>> {
    const { acquires, releases } = this;
    this.acquires = new Map();
    this.scheduled = false;
    const sent: Array<Promise<unknown>> = [];
    for (const [prepared, waiting] of acquires) {
      for (let from = 0; from < waiting.length; from += MAX_CALLS) {
        const calls = waiting.slice(from, from + MAX_CALLS);
        const carried = prepared.admissionHash === undefined ? [] : take(releases, prepared.admissionHash);
        this.sent(calls.length);
        sent.push(
          acquireAndRelease(this.redis, prepared, ids(calls), ids(carried)).then(
            ({ results, live }) => {
              calls.forEach((w, i) => w.resolve(results[i]!));
              settleReleases(carried, live);
            },
            (err: unknown) => [...calls, ...carried].forEach((w) => w.reject(err)),
          ),
        );
      }
    }
    if (this.closed) sent.push(...this.sendReleases());
    return sent;
  }

  /** Sends every release still waiting for a ride, one script call per organization. */
  private sendReleases(): Array<Promise<unknown>> {
    const { releases } = this;
    this.releases = new Map();
    clearTimeout(this.rideTimer);
    this.rideTimer = undefined;
    const sent: Array<Promise<unknown>> = [];
    for (const [hashKey, waiting] of releases) {
      for (let from = 0; from < waiting.length; from += MAX_RELEASES) {
        const batch = waiting.slice(from, from + MAX_RELEASES);
        sent.push(
          releaseMany(this.redis, hashKey, ids(batch)).then(
            (live) => settleReleases(batch, live),
            (err: unknown) => batch.forEach((w) => w.reject(err)),
          ),
        );
      }
    }
    return sent;
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
