import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface BreakerSettings {
  /** Shed Free traffic when the slowest tenth of recent admission calls take longer than this. */
  readonly redisLatencyMs: number;
  /** Treat Redis as down when this share of recent admission calls failed to connect. */
  readonly errorRate: number;
  /** Shed Free traffic when the event loop's p99 delay over the last second exceeds this. */
  readonly loopLagMs: number;
  /** How long a shed or open state lasts before probing again. */
  readonly coolDownMs: number;
}

export type BreakerState = 'closed' | 'shedding' | 'open';

/** How an admission call to Redis went: answered, timed out (slow), or failed to connect (down). */
export type RedisOutcome = 'ok' | 'timeout' | 'error';

const WINDOW = 50;
const MIN_SAMPLES = 10;

/**
 * Protects the platform when admission itself is in trouble. `shedding` refuses Free
 * traffic before it costs anything (Redis slow or timing out, or this process's event loop
 * lagging); `open` treats Redis as down (after repeated connection failures — not
 * timeouts: slowness must never turn into fail-open over-admission): Free fails closed,
 * Pro and Ultra go through the in-process fallback. Both recover by themselves: after the
 * cool-down one call probes Redis, and success closes the breaker.
 */
export class CircuitBreaker {
  /** Recent outcomes, for the error rate (connection failures). */
  private readonly outcomes: RedisOutcome[] = [];
  /** Recent latencies of answered calls, for shedding; cleared when shedding starts. */
  private readonly latencies: number[] = [];
  /** How many of `outcomes` are errors and how many of `latencies` pass the threshold: kept
   * as counts so each call costs O(1), not a scan and a sort of the window. */
  private failures = 0;
  private slow = 0;
  private openedAt = 0;
  private sheddingUntil = 0;
  private probeInFlight = false;
  private loopP99Ms = 0;
  private readonly loop: IntervalHistogram;
  private readonly ticker: NodeJS.Timeout;

  constructor(
    private readonly settings: BreakerSettings,
    private readonly onChange: (state: BreakerState) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    this.loop = monitorEventLoopDelay({ resolution: 10 });
    this.loop.enable();
    this.ticker = setInterval(() => {
      this.loopP99Ms = this.loop.percentile(99) / 1e6;
      this.loop.reset();
      if (this.loopP99Ms > settings.loopLagMs) this.shed();
      this.onChange(this.state);
    }, 1_000);
    this.ticker.unref();
  }

  get state(): BreakerState {
    if (this.openedAt) return 'open';
    return this.now() < this.sheddingUntil ? 'shedding' : 'closed';
  }

  /**
   * Whether this call may use Redis. While open, one call per cool-down is let through as
   * a probe; its outcome (reported through `record`) closes or re-opens the breaker.
   */
  mayCallRedis(): boolean {
    if (!this.openedAt) return true;
    if (this.probeInFlight || this.now() - this.openedAt < this.settings.coolDownMs) return false;
    this.probeInFlight = true;
    return true;
  }

  record(ms: number, outcome: RedisOutcome): void {
    const wasOpen = this.openedAt !== 0;
    if (this.probeInFlight) {
      this.probeInFlight = false;
      if (outcome !== 'error') this.reset();
      else this.openedAt = this.now();
      // Redis answers but slowly: the outage is over, the slowness is not.
      if (outcome === 'timeout') this.shed();
      if (wasOpen !== (this.openedAt !== 0)) this.onChange(this.state);
      return;
    }
    this.outcomes.push(outcome);
    if (outcome === 'error') this.failures++;
    if (this.outcomes.length > WINDOW && this.outcomes.shift() === 'error') this.failures--;
    if (outcome === 'ok') {
      const threshold = this.settings.redisLatencyMs;
      this.latencies.push(ms);
      if (ms > threshold) this.slow++;
      if (this.latencies.length > WINDOW && this.latencies.shift()! > threshold) this.slow--;
    }
    if (outcome === 'timeout') this.shed();
    if (this.outcomes.length < MIN_SAMPLES) return;
    // Only a failure opens it: a call Redis just answered is no reason to treat Redis as
    // down, even when earlier failures still fill the window (Redis back after an outage).
    if (outcome === 'error' && this.failures / this.outcomes.length >= this.settings.errorRate) {
      if (!this.openedAt) {
        this.openedAt = this.now();
        this.onChange('open');
      }
      return;
    }
    const n = this.latencies.length;
    if (n < MIN_SAMPLES) return;
    // The p90 (the sorted window's element at floor(0.9 n)) passes the threshold exactly
    // when at least n - floor(0.9 n) latencies do.
    if (this.slow >= n - Math.floor(n * 0.9)) this.shed();
  }

  stop(): void {
    clearInterval(this.ticker);
    this.loop.disable();
  }

  private shed(): void {
    const wasClosed = this.state === 'closed';
    this.sheddingUntil = this.now() + this.settings.coolDownMs;
    // Judge the next period on fresh latencies: the slow ones that caused this must not
    // outvote a recovered Redis after the cool-down. Connection failures are kept.
    this.latencies.length = 0;
    this.slow = 0;
    if (wasClosed) this.onChange(this.state);
  }

  private reset(): void {
    this.openedAt = 0;
    this.outcomes.length = 0;
    this.latencies.length = 0;
    this.failures = 0;
    this.slow = 0;
  }
}
