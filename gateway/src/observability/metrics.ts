import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The gateway's Prometheus metrics. Labels are bounded: tier (plans are few), reason,
 * transport, outcome, tool (the catalog is small and fixed) — never user, organization
 * or key ids (those belong in logs).
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tollgate_' });
  const m = {
    registry,
    admissionDecisions: new Counter({
      name: 'tollgate_admission_decisions_total',
      help: 'Admission decisions by tier, method kind and outcome (admitted, refused, fallback_admitted).',
      labelNames: ['tier', 'kind', 'outcome'] as const,
      registers: [registry],
    }),
    admissionRefusals: new Counter({
      name: 'tollgate_admission_refusals_total',
      help: 'Refused calls by reason (rate, burst, concurrency, quota_daily, quota_monthly, ip, global) and tier.',
      labelNames: ['reason', 'tier'] as const,
      registers: [registry],
    }),
    quotaExhaustions: new Counter({
      name: 'tollgate_quota_exhaustions_total',
      help: 'Calls past a quota, by period (day, month), tier and policy (block refused them; soft and overage admitted them).',
      labelNames: ['period', 'tier', 'policy'] as const,
      registers: [registry],
    }),
    admissionRedisSeconds: new Histogram({
      name: 'tollgate_admission_redis_seconds',
      help: 'Latency of the admission Redis call.',
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    admissionFailOpen: new Counter({
      name: 'tollgate_admission_fail_open_total',
      help: 'Decisions made without Redis, by tier and outcome (fallback_admitted, fallback_refused, closed_refused).',
      labelNames: ['tier', 'outcome'] as const,
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: 'tollgate_admission_breaker_state',
      help: 'Admission circuit breaker: 0 closed, 1 shedding Free traffic, 2 open (Redis treated as down).',
      registers: [registry],
    }),
    leasesLost: new Counter({
      name: 'tollgate_admission_leases_lost_total',
      help: 'Concurrency leases that expired before their call ended (renewal failed or came too late).',
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
