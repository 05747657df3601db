import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { TASK_QUEUES } from '../core/temporal/task-queues.js';

/**
 * The only module that reads `process.env` (lint enforces it). Every setting is validated
 * at start-up; a bad environment fails with the list of all problems at once.
 */
const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);
const toMs = (v: string, ctx: z.RefinementCtx): number => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
};
const duration = (fallback: string) => z.string().default(fallback).transform(toMs);
/** A duration, or `off` (null): the feature does not run. */
const durationOrOff = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => (v === 'off' ? null : toMs(v, ctx)));
const bytes = (fallback: number) => z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(fallback);
const url = (fallback: string) => z.url().default(fallback);
const optionalSecret = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const EnvSchema = z.object({
  NODE_ENV: z.string().optional(),
  TOLLGATE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: port(8080),
  ADMIN_PORT: port(8081),
  STATUS_PORT: port(8082),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: url('postgres://tollgate_app@127.0.0.1:5432/tollgate'),
  DATABASE_OWNER_URL: url('postgres://postgres@127.0.0.1:5432/tollgate'),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  REDIS_URL: url('redis://127.0.0.1:6379'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  /** Prefixes every task queue name, so environments (or test runs) can share a namespace. */
  TOLLGATE_TASK_QUEUE_PREFIX: z.string().regex(/^[a-z0-9-]*$/).default(''),
  STRIPE_SECRET_KEY: optionalSecret,
  STRIPE_WEBHOOK_SECRET: optionalSecret,
  STRIPE_API_BASE: z.url().optional(),
  /** The Stripe Billing meter that overage units are reported to (its `event_name`). */
  STRIPE_METER_EVENT_NAME: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/).default('tollgate_overage_units'),
  /** A billing period's length, as a Postgres interval: '1 month' (default), '30 days', or seconds in tests. */
  TOLLGATE_BILLING_PERIOD: z
    .string()
    .regex(/^\d{1,4} (second|minute|hour|day|week|month|year)s?$/, "must be '<n> <unit>', e.g. '1 month', '30 days', '5 seconds'")
    .default('1 month'),
  /** After a failed payment, how long an organization keeps its paid plan before moving to Free. */
  TOLLGATE_BILLING_GRACE: duration('7 d'),
  /** How long after a period's end its overage is reported: calls that ended just before it are ingested by then. */
  TOLLGATE_BILLING_SETTLE: duration('2 min'),
  /** How long one billing activity (a Stripe call, a period close) may run before Temporal retries it elsewhere. */
  TOLLGATE_BILLING_ACTIVITY_TIMEOUT: duration('1 min'),
  /** How often organizations without a subscription workflow get one (a Temporal Schedule); `off`: never. */
  TOLLGATE_SUBSCRIPTION_SWEEP_EVERY: durationOrOff('1 min'),
  /** How long the admin API waits for a plan change's outcome before answering 202 with a handle. */
  TOLLGATE_PLAN_CHANGE_WAIT: duration('10 s'),
  TOLLGATE_PUBLIC_URL: z.url().optional(),
  TOLLGATE_UPGRADE_URL: z.url().optional(),
  TOLLGATE_ALLOWED_HOSTS: z.string().optional(),
  TOLLGATE_HTTP_BODY_LIMIT: bytes(1024 * 1024),
  TOLLGATE_WS_MAX_MESSAGE_BYTES: bytes(1024 * 1024),
  TOLLGATE_WS_PING_INTERVAL: duration('25 s'),
  TOLLGATE_KEY_CACHE_TTL: duration('30 s'),
  TOLLGATE_LAST_USED_FLUSH: duration('10 s'),
  TOLLGATE_PLAN_REFRESH: duration('5 s'),
  TOLLGATE_SHUTDOWN_GRACE: duration('10 s'),
  TOLLGATE_TRUST_PROXY: z.string().default('false'),
  /** `off` skips admission entirely: for benchmarks measuring its cost; refused in production. */
  TOLLGATE_ADMISSION: z.enum(['enforce', 'off']).default('enforce'),
  TOLLGATE_LEASE_TTL: duration('60 s'),
  TOLLGATE_ADMISSION_TIMEOUT: duration('1 s'),
  TOLLGATE_PREAUTH_IP_PER_MINUTE: z.coerce.number().int().min(0).default(1200),
  TOLLGATE_FALLBACK_FRACTION: z.coerce.number().min(0.01).max(1).default(0.5),
  TOLLGATE_BREAKER_REDIS_LATENCY: duration('100 ms'),
  TOLLGATE_BREAKER_ERROR_RATE: z.coerce.number().min(0.01).max(1).default(0.5),
  TOLLGATE_BREAKER_LOOP_LAG: duration('500 ms'),
  TOLLGATE_BREAKER_COOLDOWN: duration('2 s'),
  REDIS_CLUSTER_NODES: z.string().optional(),
  TOLLGATE_USAGE_SHARDS: z.coerce.number().int().min(1).max(256).default(4),
  TOLLGATE_USAGE_CLAIM_IDLE: duration('30 s'),
  TOLLGATE_USAGE_ROLLUP_EVERY: duration('5 min'),
  TOLLGATE_WORKFLOW_BUNDLE: z.string().optional(),
  TOLLGATE_WORKER_METRICS_ADDRESS: z.string().regex(/^off$|^[\w.:-]+:\d{1,5}$/, 'must be host:port, or "off"').default('0.0.0.0:9464'),
  TOLLGATE_WORKER_MAX_ACTIVITIES: z.coerce.number().int().min(1).max(1000).default(50),
  /** OTLP/HTTP collector base URL (`/v1/traces` is appended, as the OpenTelemetry spec says); unset: tracing is off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  /** The full traces URL, when the collector serves it elsewhere; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  /** Overrides the per-process service name (tollgate-gateway, tollgate-worker, tollgate-billing-worker). */
  OTEL_SERVICE_NAME: z.string().max(100).optional(),
  /** Share of new traces kept (0..1); a trace started upstream keeps its caller's decision. */
  TOLLGATE_TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
});

function buildConfig(env: z.output<typeof EnvSchema>) {
  const publicUrl = env.TOLLGATE_PUBLIC_URL ?? `http://localhost:${env.PORT}`;
  return {
    env: env.TOLLGATE_ENV,
    logLevel: env.LOG_LEVEL,
    http: {
      host: env.HOST,
      port: env.PORT,
      adminPort: env.ADMIN_PORT,
      statusPort: env.STATUS_PORT,
      bodyLimitBytes: env.TOLLGATE_HTTP_BODY_LIMIT,
      allowedHosts: env.TOLLGATE_ALLOWED_HOSTS?.split(',')
        .map((h) => h.trim())
        .filter(Boolean),
      publicUrl,
      shutdownGraceMs: env.TOLLGATE_SHUTDOWN_GRACE,
      trustProxy: parseTrustProxy(env.TOLLGATE_TRUST_PROXY),
    },
    ws: {
      maxMessageBytes: env.TOLLGATE_WS_MAX_MESSAGE_BYTES,
      pingIntervalMs: env.TOLLGATE_WS_PING_INTERVAL,
    },
    auth: { keyCacheTtlMs: env.TOLLGATE_KEY_CACHE_TTL, lastUsedFlushMs: env.TOLLGATE_LAST_USED_FLUSH, planRefreshMs: env.TOLLGATE_PLAN_REFRESH },
    billing: {
      upgradeUrl: env.TOLLGATE_UPGRADE_URL ?? `${publicUrl}/upgrade`,
      /** Postgres interval: each new period is this long. */
      period: env.TOLLGATE_BILLING_PERIOD,
      graceMs: env.TOLLGATE_BILLING_GRACE,
      settleMs: env.TOLLGATE_BILLING_SETTLE,
      activityTimeoutMs: env.TOLLGATE_BILLING_ACTIVITY_TIMEOUT,
      sweepEveryMs: env.TOLLGATE_SUBSCRIPTION_SWEEP_EVERY,
      planChangeWaitMs: env.TOLLGATE_PLAN_CHANGE_WAIT,
      /** Without a Stripe secret key, plans change without charges (local mode). */
      mode: env.STRIPE_SECRET_KEY ? ('stripe' as const) : ('local' as const),
    },
    postgres: { url: env.DATABASE_URL, ownerUrl: env.DATABASE_OWNER_URL, poolMax: env.DATABASE_POOL_MAX },
    redis: {
      url: env.REDIS_URL,
      /** `host:port` seed nodes of a Redis Cluster; when set, REDIS_URL is not used. */
      clusterNodes: env.REDIS_CLUSTER_NODES?.split(',').map((n) => n.trim()).filter(Boolean),
    },
    admission: {
      enforce: env.TOLLGATE_ADMISSION === 'enforce',
      leaseTtlMs: env.TOLLGATE_LEASE_TTL,
      timeoutMs: env.TOLLGATE_ADMISSION_TIMEOUT,
      preAuthIpPerMinute: env.TOLLGATE_PREAUTH_IP_PER_MINUTE,
      fallbackFraction: env.TOLLGATE_FALLBACK_FRACTION,
      breaker: {
        redisLatencyMs: env.TOLLGATE_BREAKER_REDIS_LATENCY,
        errorRate: env.TOLLGATE_BREAKER_ERROR_RATE,
        loopLagMs: env.TOLLGATE_BREAKER_LOOP_LAG,
        coolDownMs: env.TOLLGATE_BREAKER_COOLDOWN,
      },
    },
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueues: {
        toolCalls: `${env.TOLLGATE_TASK_QUEUE_PREFIX}${TASK_QUEUES.toolCalls}`,
        billing: `${env.TOLLGATE_TASK_QUEUE_PREFIX}${TASK_QUEUES.billing}`,
      },
    },
    worker: {
      maxConcurrentActivities: env.TOLLGATE_WORKER_MAX_ACTIVITIES,
      /** A prebuilt workflow bundle (`bundleWorkflowCode` output): workers start without bundling. */
      workflowBundlePath: env.TOLLGATE_WORKFLOW_BUNDLE,
      /** Where the Temporal runtime serves the worker's Prometheus metrics (`host:port`); undefined when "off". */
      metricsAddress: env.TOLLGATE_WORKER_METRICS_ADDRESS === 'off' ? undefined : env.TOLLGATE_WORKER_METRICS_ADDRESS,
    },
    usage: {
      /** Shards of the usage stream (only ever raise it: readers read every shard up to it). */
      shards: env.TOLLGATE_USAGE_SHARDS,
      /** A record read but not acknowledged this long (its reader died) is read again by another. */
      claimIdleMs: env.TOLLGATE_USAGE_CLAIM_IDLE,
      /** How often usage is rolled up per day and quota counters reconciled (a Temporal Schedule). */
      rollupEveryMs: env.TOLLGATE_USAGE_ROLLUP_EVERY,
    },
    tracing: {
      /** Where spans go (OTLP/HTTP, JSON); undefined: tracing is off, no SDK is started. */
      endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined),
      /** undefined: each process names itself. */
      serviceName: env.OTEL_SERVICE_NAME,
      sampleRatio: env.TOLLGATE_TRACE_SAMPLE_RATIO,
    },
    stripe: {
      secretKey: env.STRIPE_SECRET_KEY,
      webhookSecret: env.STRIPE_WEBHOOK_SECRET,
      apiBase: env.STRIPE_API_BASE,
      meterEventName: env.STRIPE_METER_EVENT_NAME,
    },
  };
}

export type Config = ReturnType<typeof buildConfig>;

/** `false`, `true`, a hop count, or a comma-separated list of proxy addresses/CIDRs (Fastify's trustProxy). */
function parseTrustProxy(v: string): boolean | number | string[] {
  if (v === 'true') return true;
  if (v === 'false' || v === '') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return v.split(',').map((s) => s.trim());
}

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates `env` (default: the process environment) and returns a deep-frozen config. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable (`PORT=` from an unset `${PORT}` in compose files) means "unset".
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = EnvSchema.refine((e) => !(e.TOLLGATE_ENV === 'production' && e.TOLLGATE_ADMISSION === 'off'), {
    message: 'TOLLGATE_ADMISSION=off is for benchmarks and is refused when TOLLGATE_ENV=production',
    path: ['TOLLGATE_ADMISSION'],
  }).safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  return deepFreeze(buildConfig(parsed.data));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
