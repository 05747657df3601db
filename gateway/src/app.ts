import type { Tracer } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { hostHeaderValidation } from '@modelcontextprotocol/fastify';
import type { Client, Connection } from '@temporalio/client';
import type { WebSocket } from 'ws';
import type { Config } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import { registerScripts } from '../../platform/redis/commands.js';
import { RedisSubscriptions } from '../../platform/redis/subscriptions.js';
import { accountRoutes } from './accounts/account-routes.js';
import { adminRoutes } from './accounts/admin-routes.js';
import { TenancyOperations } from './accounts/tenancy-operations.js';
import { Admission } from './admission/admission.js';
import { CircuitBreaker } from './admission/circuit-breaker.js';
import { FallbackLimiter } from './admission/fallback-limiter.js';
import { GlobalPool } from './admission/global-pool.js';
import { PreAuthIpLimiter, preAuthIpGuard } from './admission/ip-limiter.js';
import { KeyAuthenticator } from './auth/key-authenticator.js';
import { LastUsedRecorder } from './auth/last-used.js';
import { PlanCache } from './auth/plan-cache.js';
import { StaffAuthenticator } from './auth/staff-authenticator.js';
import { applyTenancyEvent, listenForTenancyEvents, type TenancyHandlers } from './auth/tenancy-listener.js';
import { CallGate } from './mcp/call-gate.js';
import { McpHttpTransport } from './mcp/http-transport.js';
import { LegacySessions, ModernHub, type ServerBuilder } from './mcp/mcp-connections.js';
import { mcpRoutes } from './mcp/mcp-routes.js';
import { createMcpServer } from './mcp/server-factory.js';
import { ToolRouter } from './mcp/tool-router.js';
import { CLOSE, type WebSocketServerTransport } from './mcp/ws-transport.js';
import { installErrorHandling } from './plugins/errors.js';
import { createFastify } from './plugins/fastify-options.js';
import { InflightRequests } from './plugins/inflight.js';
import { strictUtf8Json } from './plugins/json-body.js';
import { withOpenApi } from './plugins/openapi.js';
import { Readiness } from './readiness.js';
import { trackHttpMetrics } from './observability/http-metrics.js';
import { traceHttpRequests } from './observability/http-tracing.js';
import { createMetrics } from './observability/metrics.js';
import { TopOrgs } from './observability/top-orgs.js';
import { statusRoutes } from './routes/status.js';
import { StatusReporter } from './routes/status-report.js';
import { VERSION } from '../../platform/version.js';
import { stripeWebhookRoutes } from './billing/stripe-webhook.js';
import { subscriptionClient } from '../../platform/billing/subscription-client.js';
import { ProgressHub } from './tools/progress-hub.js';
import { WorkflowToolRunner } from './tools/workflow-tool-runner.js';
import { ToolTasks } from './tools/tool-tasks.js';
import { UsageRecorder } from './usage/usage-recorder.js';

export interface GatewayDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly pool: Pool;
  /** General commands: pub/sub publishing, progress. */
  readonly redis: Redis;
  /** The admission connection: fails fast (see platform/redis/client.ts). */
  readonly redisAdmission: Redis;
  /** A dedicated connection for pub/sub subscriptions. */
  readonly redisSubscriber: Redis;
  readonly temporal: { readonly client: Client; readonly connection: Connection };
  /** Tracing on (platform/telemetry/tracing.ts): spans per public request, admission and tool call. Undefined: off. */
  readonly tracer?: Tracer;
}

export interface Gateway {
  readonly public: FastifyInstance;
  readonly admin: FastifyInstance;
  readonly status: FastifyInstance;
  readonly readiness: Readiness;
  /** Binds the three listeners (ports from config; 0 picks free ones) and reports their URLs. */
  listen(): Promise<{ publicUrl: string; adminUrl: string; statusUrl: string }>;
  /** Drains and closes everything the gateway opened (not the deps it was given). */
  close(): Promise<void>;
}

/** Builds the gateway's three Fastify apps from its dependencies; does not listen. */
export async function buildGateway(deps: GatewayDeps): Promise<Gateway> {
  const { config, log, pool } = deps;
  registerScripts(deps.redisAdmission);
  const breaker = new CircuitBreaker(config.admission.breaker, (state) => {
    if (state !== 'closed') log.warn({ state }, 'admission breaker engaged');
  });
  const metrics = createMetrics({ breakerState: () => breaker.state });
  const subscriptions = new RedisSubscriptions(deps.redisSubscriber);
  const plans = new PlanCache(pool, config.auth.planRefreshMs, (err) => log.warn({ err }, 'plan reload failed'));
  await plans.start();
  const planName = (id: string) => plans.get(id)?.name ?? id;

  const keyUses = new LastUsedRecorder((ids, at) => pool.query('SELECT touch_api_keys($1, $2)', [ids, at]).then(() => {}), config.auth.lastUsedFlushMs, (err) =>
    log.warn({ err }, 'last-used write failed'),
  );
  const staffUses = new LastUsedRecorder((ids, at) => pool.query('SELECT touch_staff_tokens($1, $2)', [ids, at]).then(() => {}), config.auth.lastUsedFlushMs, (err) =>
    log.warn({ err }, 'last-used write failed'),
  );
  const authenticator = new KeyAuthenticator(pool, plans, config.auth.keyCacheTtlMs, (keyId) => keyUses.mark(keyId));
  const admission = new Admission({
    redis: deps.redisAdmission,
    pool: new GlobalPool(deps.redisAdmission),
    breaker,
    fallback: new FallbackLimiter(config.admission.fallbackFraction),
    metrics,
    log,
    leaseTtlMs: config.admission.leaseTtlMs,
    enforce: config.admission.enforce,
    tracer: deps.tracer,
  });
  if (!config.admission.enforce) log.warn('ADMISSION IS OFF (TOLLGATE_ADMISSION=off): no limits are enforced; benchmarks only');
  const topOrgs = new TopOrgs(metrics.orgCallsTop);
  const gate = new CallGate(admission, config.billing.upgradeUrl, { metrics, topOrgs });
  const ipLimiter = preAuthIpGuard(new PreAuthIpLimiter(config.admission.preAuthIpPerMinute), config.billing.upgradeUrl);
  const usage = new UsageRecorder({ redis: deps.redisAdmission, pool, shards: config.usage.shards, log, metrics });
  const workflowRunner = new WorkflowToolRunner(deps.temporal.client, new ProgressHub(subscriptions), config.temporal.taskQueues.toolCalls, config.admission.leaseTtlMs, metrics);
  const router = new ToolRouter(workflowRunner, admission, usage, metrics, deps.tracer);
  const toolTasks = new ToolTasks(deps.temporal.client, workflowRunner);
  const buildServer: ServerBuilder = (contextOf) => createMcpServer(router, toolTasks, contextOf);
  const hub = new ModernHub(buildServer, log);
  const sessions = new LegacySessions(buildServer, log, {
    maxSessions: 10_000,
    idleMs: 30 * 60_000,
    onOpened: () => {
      metrics.connectionsOpened.inc({ transport: 'http-session' });
      metrics.openConnections.inc({ transport: 'http-session' });
    },
    onClosed: () => {
      metrics.connectionsClosed.inc({ transport: 'http-session' });
      metrics.openConnections.dec({ transport: 'http-session' });
    },
  });
  const http = new McpHttpTransport(gate, hub, sessions, { streamAfterMs: 10_000, keepAliveMs: 15_000 }, metrics);
  const webSockets = new Map<WebSocketServerTransport, string>();
  const readiness = new Readiness({ pool, redis: deps.redis, redisAdmission: deps.redisAdmission, temporal: deps.temporal.connection });
  const tenancyHandlers: TenancyHandlers = {
    keyRevoked(keyId, prefix) {
      authenticator.invalidate({ prefix, keyId });
      void sessions.closeForKey(keyId);
      for (const [t, k] of webSockets) if (k === keyId) t.closeWith(CLOSE.policyViolation, 'the API key was revoked');
    },
    keyChanged: (keyId, prefix) => authenticator.invalidate({ prefix, keyId }),
    orgChanged: (orgId) => authenticator.invalidate({ orgId }),
    plansChanged: () => void plans.reload().catch((err: unknown) => log.warn({ err }, 'plan reload failed')),
  };
  const ops = new TenancyOperations(pool, deps.redis, log, (event) => applyTenancyEvent(tenancyHandlers, event));
  const subscriptionClients = subscriptionClient(deps.temporal.client, config);
  const stopListening = await listenForTenancyEvents(subscriptions, tenancyHandlers, log);

  const publicApp = createFastify(log.child({ listener: 'public' }), config.http.bodyLimitBytes, config.http.trustProxy);
  // --- Tracing (docs/operations.md "Tracing"): the first hooks, so everything after runs inside the request's span.
  if (deps.tracer) traceHttpRequests(publicApp, deps.tracer);
  installErrorHandling(publicApp);
  trackHttpMetrics(publicApp, 'public', metrics);
  strictUtf8Json(publicApp);
  // DNS-rebinding protection when the operator names the public hosts (the SDK's own guard).
  if (config.http.allowedHosts?.length) publicApp.addHook('onRequest', hostHeaderValidation(config.http.allowedHosts));
  const inflight = new InflightRequests();
  inflight.track(publicApp);
  await withOpenApi(publicApp, {
    title: 'Tollgate account API',
    description: 'Manage your organization, its members and API keys. MCP itself is served on /mcp.',
    securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key with the "account" scope: tg_<prefix>_<secret>' } },
  });
  await publicApp.register(websocket, {
    options: {
      maxPayload: config.ws.maxMessageBytes,
      // Select `mcp` and nothing else: a key offered as a subprotocol entry is never echoed.
      handleProtocols: (protocols: Set<string>) => (protocols.has('mcp') ? 'mcp' : false),
    },
    // Not the plugin's default (close every socket at once): close() drains each session first.
    preClose: (done: () => void) => done(),
  });
  await publicApp.register(mcpRoutes, {
    authenticator,
    gate,
    http,
    buildServer,
    ipLimiter,
    ws: { pingIntervalMs: config.ws.pingIntervalMs },
    metrics,
    onWebSocket: (t: WebSocketServerTransport, socket: WebSocket, keyId: string) => {
      webSockets.set(t, keyId);
      socket.once('close', () => webSockets.delete(t));
    },
  });
  await publicApp.register(accountRoutes, { authenticator, ops, planName, ipLimiter });
  await publicApp.register(stripeWebhookRoutes, { pool, subscriptions: subscriptionClients, webhookSecret: config.stripe.webhookSecret });

  const adminApp = createFastify(log.child({ listener: 'admin' }), config.http.bodyLimitBytes);
  installErrorHandling(adminApp);
  trackHttpMetrics(adminApp, 'admin', metrics);
  strictUtf8Json(adminApp);
  await withOpenApi(adminApp, {
    title: 'Tollgate admin API',
    description: 'Organizations, users, memberships, API keys, plans and the audit log, for the operator’s staff.',
    securitySchemes: { staffToken: { type: 'http', scheme: 'bearer', description: 'A staff token: tgs_<prefix>_<secret> (npm run admin -- staff create)' } },
  });
  await adminApp.register(adminRoutes, {
    authenticator: new StaffAuthenticator(pool, (id) => staffUses.mark(id)),
    ops,
    planName,
    billing: { pool, subscriptions: subscriptionClients, planExists: async (id) => (await plans.resolve(id)) !== undefined, waitMs: config.billing.planChangeWaitMs, mode: config.billing.mode },
  });

  const statusApp = createFastify(log.child({ listener: 'status' }), 64 * 1024);
  installErrorHandling(statusApp);
  trackHttpMetrics(statusApp, 'status', metrics);
  await withOpenApi(statusApp, { title: 'Tollgate status', description: 'Health, readiness, status and metrics of one gateway (operators and orchestrators only).', securitySchemes: {} });
  const startedAt = new Date();
  const reporter = new StatusReporter({
    readiness,
    temporal: deps.temporal.connection,
    namespace: config.temporal.namespace,
    taskQueues: [config.temporal.taskQueues.toolCalls, config.temporal.taskQueues.billing],
    metrics,
    inflightHttpRequests: () => inflight.size,
    version: VERSION,
    startedAt,
  });
  await statusApp.register(statusRoutes, { readiness, reporter, startedAt, metrics: metrics.registry });

  const apps = [publicApp, adminApp, statusApp];
  return {
    public: publicApp,
    admin: adminApp,
    status: statusApp,
    readiness,
    async listen() {
      const host = config.http.host;
      const [publicUrl, adminUrl, statusUrl] = await Promise.all([
        publicApp.listen({ host, port: config.http.port }),
        adminApp.listen({ host, port: config.http.adminPort }),
        statusApp.listen({ host, port: config.http.statusPort }),
      ]);
      readiness.serving();
      return { publicUrl, adminUrl, statusUrl };
    },
    async close() {
      readiness.draining();
      // Each WebSocket session answers what it is running, then gets 1001 (new requests on it are refused).
      const sockets = Promise.all([...webSockets.keys()].map((t) => t.drain(CLOSE.goingAway, 'server shutting down', config.http.shutdownGraceMs)));
      sessions.endStreams();
      // Stop accepting, let in-flight requests finish (bounded), then drop what is left.
      const closing = Promise.all(apps.map((a) => a.close()));
      const [drained] = await Promise.all([inflight.drained(config.http.shutdownGraceMs), sockets]);
      if (!drained) log.warn({ inflight: inflight.size }, 'drain timed out; closing remaining connections');
      for (const a of apps) a.server.closeAllConnections();
      await closing;
      await Promise.all([sessions.closeAll(), hub.close()]);
      stopListening();
      plans.stop();
      breaker.stop();
      topOrgs.stop();
      // The last calls' releases may be waiting for a decision to ride with: none will come.
      await Promise.all([admission.close(), keyUses.stop(), staffUses.stop(), usage.stop()]);
    },
  };
}
