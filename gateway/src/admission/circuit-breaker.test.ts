import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, type BreakerSettings, type BreakerState, type RedisOutcome } from './circuit-breaker.js';
import { createMetrics } from '../observability/metrics.js';

/**
 * The breaker's clock is injected, samples are fed through `record()`. The once-a-second
 * event-loop ticker is held by fake interval timers (and a loop-lag threshold no real lag
 * reaches), so only the samples decide the state.
 */
const SETTINGS: BreakerSettings = { redisLatencyMs: 50, errorRate: 0.5, loopLagMs: 1e9, coolDownMs: 5_000 };
const FAST = 2;
const SLOW = 80;

let clock = 0;
let changes: BreakerState[] = [];
let breaker: CircuitBreaker;

function make(settings: Partial<BreakerSettings> = {}): CircuitBreaker {
  breaker?.stop();
  breaker = new CircuitBreaker({ ...SETTINGS, ...settings }, (s) => changes.push(s), () => clock);
  return breaker;
}

const feed = (n: number, ms: number, outcome: RedisOutcome) => {
  for (let i = 0; i < n; i++) breaker.record(ms, outcome);
};

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  clock = 1_000_000;
  changes = [];
  make();
});

afterEach(() => {
  breaker.stop();
  vi.useRealTimers();
});

describe('closed → open on errors', () => {
  it('starts closed: Redis may be called', () => {
    expect(breaker.state).toBe('closed');
    expect(breaker.mayCallRedis()).toBe(true);
  });

  it('needs at least 10 samples: 9 failures in a row do not open it, a 10th failure does', () => {
    feed(9, FAST, 'error');
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual([]);
    breaker.record(FAST, 'error'); // 10 failures out of 10 ≥ 50 %
    expect(breaker.state).toBe('open');
    expect(changes).toEqual(['open']);
  });

  it('a success never opens it, even with earlier failures over the rate (Redis back after an outage)', () => {
    feed(6, FAST, 'error');
    feed(2, FAST, 'ok');
    breaker.record(FAST, 'ok'); // 9 samples
    breaker.record(FAST, 'ok'); // the 10th: 6 failures out of 10 ≥ 50 %, but Redis answered
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual([]);
    breaker.record(FAST, 'error'); // 7 / 11 ≥ 50 %, and this one failed
    expect(breaker.state).toBe('open');
  });

  it('opens when the error rate reaches the threshold, not below it', () => {
    feed(6, FAST, 'ok');
    feed(4, FAST, 'error'); // 4 / 10 < 0.5
    expect(breaker.state).toBe('closed');
    breaker.record(FAST, 'error'); // 5 / 11 < 0.5
    expect(breaker.state).toBe('closed');
    breaker.record(FAST, 'error'); // 6 / 12 = 0.5
    expect(breaker.state).toBe('open');
  });

  it('judges the last 50 samples only', () => {
    make({ errorRate: 0.3 });
    feed(60, FAST, 'ok');
    feed(10, FAST, 'error'); // 10 failures in the last 50 = 20 %
    expect(breaker.state).toBe('closed');
    feed(5, FAST, 'error'); // 15 / 50 = 30 %
    expect(breaker.state).toBe('open');
  });

  it('while open: Redis is not called until the cool-down has passed', () => {
    feed(10, FAST, 'error');
    expect(breaker.state).toBe('open');
    expect(breaker.mayCallRedis()).toBe(false);
    clock += SETTINGS.coolDownMs - 1;
    expect(breaker.mayCallRedis()).toBe(false);
    expect(breaker.state).toBe('open');
  });
});

describe('probing after the cool-down', () => {
  beforeEach(() => {
    feed(10, FAST, 'error');
    changes = [];
  });

  it('lets exactly one probe through once the cool-down has passed', () => {
    clock += SETTINGS.coolDownMs;
    expect(breaker.mayCallRedis()).toBe(true);
    expect(breaker.mayCallRedis()).toBe(false);
    clock += 60_000;
    expect(breaker.mayCallRedis()).toBe(false);
    expect(breaker.state).toBe('open');
  });

  it('a successful probe closes the breaker and starts a fresh error count', () => {
    clock += SETTINGS.coolDownMs;
    expect(breaker.mayCallRedis()).toBe(true);
    breaker.record(FAST, 'ok');
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['closed']);
    expect(breaker.mayCallRedis()).toBe(true);
    expect(breaker.mayCallRedis()).toBe(true);
    // The failures before the outage are forgotten: 9 new ones are not enough.
    feed(9, FAST, 'error');
    expect(breaker.state).toBe('closed');
    breaker.record(FAST, 'error');
    expect(breaker.state).toBe('open');
  });

  it('a failed probe re-opens it for another full cool-down, then probes again', () => {
    clock += SETTINGS.coolDownMs + 1_234;
    expect(breaker.mayCallRedis()).toBe(true);
    breaker.record(FAST, 'error');
    expect(breaker.state).toBe('open');
    expect(breaker.mayCallRedis()).toBe(false);
    clock += SETTINGS.coolDownMs - 1;
    expect(breaker.mayCallRedis()).toBe(false);
    clock += 1;
    expect(breaker.mayCallRedis()).toBe(true);
    expect(breaker.mayCallRedis()).toBe(false);
    breaker.record(FAST, 'ok');
    expect(breaker.state).toBe('closed');
  });
});

describe('shedding on latency', () => {
  it('sheds when the p90 of the recent calls is over the threshold; Redis stays in use', () => {
    feed(9, SLOW, 'ok'); // under 10 samples: no verdict yet
    expect(breaker.state).toBe('closed');
    breaker.record(FAST, 'ok');
    expect(breaker.state).toBe('shedding');
    // Shedding is about Free traffic only: Redis stays in use for the others.
    expect(breaker.mayCallRedis()).toBe(true);
    expect(changes).toEqual(['shedding']);
  });

  it('does not shed at the threshold itself, nor for one slow call in 20; two in 20 (the slowest tenth) do', () => {
    feed(10, SETTINGS.redisLatencyMs, 'ok');
    expect(breaker.state).toBe('closed');
    make();
    feed(19, FAST, 'ok');
    breaker.record(SLOW, 'ok');
    expect(breaker.state).toBe('closed');
    make();
    feed(18, FAST, 'ok');
    breaker.record(SLOW, 'ok');
    breaker.record(SLOW, 'ok');
    expect(breaker.state).toBe('shedding');
  });

  it('ends by itself after the cool-down; slow calls meanwhile extend it without new notifications', () => {
    feed(10, SLOW, 'ok');
    expect(breaker.state).toBe('shedding');
    clock += 3_000;
    // Still slow: shedding started on fresh samples, and 10 new slow ones are a new
    // verdict; shedding now runs until 3 000 + cool-down.
    feed(10, SLOW, 'ok');
    clock += SETTINGS.coolDownMs - 1;
    expect(breaker.state).toBe('shedding');
    clock += 1;
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['shedding']);
  });

  it('after the cool-down, a fast call (Redis recovered) keeps it closed', () => {
    feed(10, SLOW, 'ok');
    expect(breaker.state).toBe('shedding');
    clock += SETTINGS.coolDownMs;
    expect(breaker.state).toBe('closed');
    // Free traffic is let through again (no Free call recorded a sample while it was
    // shed); its first call finds Redis fast. That success must not be outvoted by the
    // slow samples from before the cool-down.
    breaker.record(FAST, 'ok');
    expect(breaker.state).toBe('closed');
  });

  it('errors on top of slowness open it: open wins over shedding', () => {
    feed(10, SLOW, 'ok');
    expect(breaker.state).toBe('shedding');
    // Slow answers and failures alternate; shedding keeps the failure history.
    for (let i = 0; i < 9; i++) {
      breaker.record(SLOW, 'ok');
      breaker.record(SLOW, 'error');
    }
    expect(breaker.state).toBe('shedding'); // 9 failures of 28 recent calls: below 50 %
    breaker.record(SLOW, 'error');
    breaker.record(SLOW, 'error');
    // 11 of 30 … the window is the last 50 calls: keep failing until half of them failed.
    for (let i = 0; i < 8; i++) breaker.record(SLOW, 'error');
    // 19 failures of 38 calls = 50 %: the failures are judged before the latency.
    expect(breaker.state).toBe('open');
    expect(breaker.mayCallRedis()).toBe(false);
    expect(changes).toEqual(['shedding', 'open']);
  });
});

describe('timeouts (Redis slow, not down)', () => {
  it('one timeout sheds Free at once, without waiting for 10 samples', () => {
    breaker.record(1_000, 'timeout');
    expect(breaker.state).toBe('shedding');
    expect(breaker.mayCallRedis()).toBe(true);
    expect(changes).toEqual(['shedding']);
  });

  it('never opens the breaker, however many: slowness must not turn into fail-open', () => {
    feed(50, 1_000, 'timeout');
    expect(breaker.state).toBe('shedding');
    expect(breaker.mayCallRedis()).toBe(true);
    clock += SETTINGS.coolDownMs;
    expect(breaker.state).toBe('closed');
  });

  it('connection failures among timeouts still open it: a timeout sheds, it does not erase the failures', () => {
    // Redis flapping: every other call fails to connect, the others time out.
    for (let i = 0; i < 10; i++) {
      breaker.record(FAST, 'error');
      breaker.record(1_000, 'timeout');
    }
    // Half of the last 20 calls failed to connect: 50 % reaches the error rate.
    expect(breaker.state).toBe('open');
    expect(breaker.mayCallRedis()).toBe(false);
  });

  it('a probe that times out ends the outage (Redis answers) but sheds Free (Redis is slow)', () => {
    feed(10, FAST, 'error');
    clock += SETTINGS.coolDownMs;
    expect(breaker.mayCallRedis()).toBe(true);
    breaker.record(1_000, 'timeout');
    expect(breaker.mayCallRedis()).toBe(true);
    expect(breaker.state).toBe('shedding');
  });
});

describe('lifecycle', () => {
  it('reports its state once a second until stop()', () => {
    vi.advanceTimersByTime(1_000);
    expect(changes).toEqual(['closed']);
    breaker.stop();
    vi.advanceTimersByTime(5_000);
    expect(changes).toEqual(['closed']);
  });
});

describe('the tollgate_admission_breaker_state gauge', () => {
  const scrape = async (metrics: ReturnType<typeof createMetrics>) => /tollgate_admission_breaker_state (\d)/.exec(await metrics.registry.metrics())?.[1];

  it('reads the state when scraped: a shed period that ended by itself shows as closed before any tick', async () => {
    const metrics = createMetrics({ breakerState: () => breaker.state });
    expect(await scrape(metrics)).toBe('0');
    breaker.record(1_000, 'timeout');
    expect(await scrape(metrics)).toBe('1');
    clock += SETTINGS.coolDownMs;
    expect(changes).toEqual(['shedding']);
    expect(await scrape(metrics)).toBe('0');
    feed(10, FAST, 'error');
    expect(await scrape(metrics)).toBe('2');
  });
});
