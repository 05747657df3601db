import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BreakerState } from '../admission/circuit-breaker.js';

/**
 * State that changes with the clock alone (a shed period ends by itself), read when the
 * metrics are scraped: a value pushed on change would stay stale until something happened.
 */
export interface ScrapeTimeReadings {
  readonly breakerState?: () => BreakerState;
}

const BREAKER_STATES: Record<BreakerState, number> = { closed: 0, shedding: 1, open: 2 };

/**
 * The gateway's Prometheus metrics. Labels are bounded: tier (plans are few), reason,
 * transport, outcome, tool (the catalog is small and fixed), route patterns, MCP methods
 * (known ones, else `other`) — never user or key ids (those belong in logs). The one
 * organization label is a bounded top-N (`tollgate_org_calls_per_minute`). The catalog
 * with what to alert on: docs/operations.md.
 */
export function createMetrics(readings: ScrapeTimeReadings = {}) {
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
    admissionBatchCalls: new Histogram({
      name: 'tollgate_admission_batch_calls',
      help: 'Calls decided per admission script call (calls of one key, IP and tool group arriving in one event-loop turn share one).',
      buckets: [1, 2, 4, 8, 16, 32, 64],
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
      collect() {
        const state = readings.breakerState?.();
        if (state) this.set(BREAKER_STATES[state]);
      },
    }),
    admissionRedisErrors: new Counter({
      name: 'tollgate_admission_redis_errors_total',
      help: 'Admission Redis calls that failed, by kind (timeout: no answer within TOLLGATE_ADMISSION_TIMEOUT; error: connection or command error).',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    mcpCalls: new Counter({
      name: 'tollgate_mcp_calls_total',
      help: 'tools/call requests by tier, tool and outcome (ok, tool_error: an isError result, refused: by admission or plan, failed: an internal or upstream error, cancelled).',
      labelNames: ['tier', 'tool', 'outcome'] as const,
      registers: [registry],
    }),
    mcpCallDuration: new Histogram({
      name: 'tollgate_mcp_call_duration_seconds',
      help: 'Duration of admitted tools/call requests, from admission to result, by tier and tool.',
      labelNames: ['tier', 'tool'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    mcpRequests: new Counter({
      name: 'tollgate_mcp_requests_total',
      help: 'MCP requests (every JSON-RPC request, any method) by transport (http, ws), method (known MCP methods, else other), tier and outcome (ok, error).',
      labelNames: ['transport', 'method', 'tier', 'outcome'] as const,
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'tollgate_http_requests_total',
      help: 'HTTP requests by listener (public, admin, status), route pattern, status class (2xx..5xx) and tier (none before authentication).',
      labelNames: ['listener', 'route', 'status', 'tier'] as const,
      registers: [registry],
    }),
    httpRequestDuration: new Histogram({
      name: 'tollgate_http_request_duration_seconds',
      help: 'HTTP request duration by listener and route pattern.',
      labelNames: ['listener', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    connectionsOpened: new Counter({
      name: 'tollgate_mcp_connections_opened_total',
      help: 'MCP connections opened, by transport (ws: a WebSocket session; http-session: a 2025-era Streamable HTTP session).',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    connectionsClosed: new Counter({
      name: 'tollgate_mcp_connections_closed_total',
      help: 'MCP connections closed, by transport.',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    openConnections: new Gauge({
      name: 'tollgate_mcp_open_connections',
      help: 'MCP connections open now, by transport.',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    handshakeFailures: new Counter({
      name: 'tollgate_mcp_handshake_failures_total',
      help: 'Refused MCP connection attempts (WebSocket upgrades, HTTP session initializations) by transport and reason (unauthenticated, forbidden, bad_request, unsupported_version, rate_limited, overloaded).',
      labelNames: ['transport', 'reason'] as const,
      registers: [registry],
    }),
    inflightCalls: new Gauge({
      name: 'tollgate_inflight_calls',
      help: 'tools/call requests running now on this gateway.',
      registers: [registry],
    }),
    workflowStarts: new Counter({
      name: 'tollgate_workflow_starts_total',
      help: 'Tool-call workflows started, by tool.',
      labelNames: ['tool'] as const,
      registers: [registry],
    }),
    workflowFailures: new Counter({
      name: 'tollgate_workflow_failures_total',
      help: 'Tool-call workflows that ended without a result, by tool and reason (failed, timeout, cancelled, terminated).',
      labelNames: ['tool', 'reason'] as const,
      registers: [registry],
    }),
    orgCallsTop: new Gauge({
      name: 'tollgate_org_calls_per_minute',
      help: 'tools/call requests per minute of the 10 busiest organizations on this gateway (bounded top-N; other organizations are not reported).',
      labelNames: ['org'] as const,
      registers: [registry],
    }),
    usageRecords: new Counter({
      name: 'tollgate_usage_records_total',
      help: 'Usage records of ended calls, by path (stream: appended to Redis; fallback: buffered for Postgres while Redis is unavailable; dropped: fallback buffer full).',
      labelNames: ['path'] as const,
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
