import type { FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { Client, Connection } from '@temporalio/client';
import type { Config } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import { registerScripts } from '../../platform/redis/commands.js';
import { Admission } from './admission/admission.js';
import { KeyAuthenticator } from './auth/key-authenticator.js';
import { PlanCache } from './auth/plan-cache.js';
import { CallGate } from './mcp/call-gate.js';
import { McpHttpTransport } from './mcp/http-transport.js';
import { LegacySessions, ModernHub, type ServerBuilder } from './mcp/mcp-connections.js';
import { mcpRoutes } from './mcp/mcp-routes.js';
import { createMcpServer } from './mcp/server-factory.js';
import { ToolRouter } from './mcp/tool-router.js';
import { CLOSE, type WebSocketServerTransport } from './mcp/ws-transport.js';
import { installErrorHandling } from './plugins/errors.js';
import { InflightRequests } from './plugins/inflight.js';
import { createFastify } from './plugins/fastify-options.js';
import { Readiness } from './readiness.js';
import { statusRoutes } from './routes/status.js';
import { ProgressHub } from './tools/progress-hub.js';
import { WorkflowToolRunner } from './tools/workflow-tool-runner.js';

export interface GatewayDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly pool: Pool;
  readonly redis: Redis;
  /** A second Redis connection, used only for pub/sub subscriptions. */
  readonly redisSubscriber: Redis;
  readonly temporal: { readonly client: Client; readonly connection: Connection };
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
  const { config, log } = deps;
  registerScripts(deps.redis);
  const plans = new PlanCache(deps.pool, 5_000, (err) => log.warn({ err }, 'plan reload failed'));
  await plans.start();
  const authenticator = new KeyAuthenticator(deps.pool, plans, config.auth.keyCacheTtlMs);
  const gate = new CallGate(new Admission(deps.redis), config.billing.upgradeUrl);
  const router = new ToolRouter(new WorkflowToolRunner(deps.temporal.client, new ProgressHub(deps.redisSubscriber), config.temporal.taskQueues.toolCalls));
  const buildServer: ServerBuilder = (contextOf) => createMcpServer(router, contextOf);
  const hub = new ModernHub(buildServer, log);
  const sessions = new LegacySessions(buildServer, log, { maxSessions: 10_000, idleMs: 30 * 60_000 });
  const http = new McpHttpTransport(gate, hub, sessions, { streamAfterMs: 10_000, keepAliveMs: 15_000 });
  const webSockets = new Set<WebSocketServerTransport>();
  const readiness = new Readiness({ pool: deps.pool, redis: deps.redis, temporal: deps.temporal.connection });

  const publicApp = createFastify(log.child({ listener: 'public' }), config.http.bodyLimitBytes);
  installErrorHandling(publicApp);
  const inflight = new InflightRequests();
  inflight.track(publicApp);
  await publicApp.register(websocket, {
    options: {
      maxPayload: config.ws.maxMessageBytes,
      // Select `mcp` and nothing else: a key offered as a subprotocol entry is never echoed.
      handleProtocols: (protocols: Set<string>) => (protocols.has('mcp') ? 'mcp' : false),
    },
  });
  await publicApp.register(mcpRoutes, {
    authenticator,
    gate,
    http,
    buildServer,
    ws: { pingIntervalMs: config.ws.pingIntervalMs },
    onWebSocket: (t, socket) => {
      webSockets.add(t);
      socket.once('close', () => webSockets.delete(t));
    },
  });

  const adminApp = createFastify(log.child({ listener: 'admin' }), config.http.bodyLimitBytes);
  installErrorHandling(adminApp);

  const statusApp = createFastify(log.child({ listener: 'status' }), 64 * 1024);
  installErrorHandling(statusApp);
  await statusApp.register(statusRoutes, { readiness, startedAt: new Date() });

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
      for (const t of webSockets) t.closeWith(CLOSE.goingAway, 'server shutting down');
      sessions.endStreams();
      // Stop accepting, let in-flight requests finish (bounded), then drop what is left.
      const closing = Promise.all(apps.map((a) => a.close()));
      const drained = await inflight.drained(config.http.shutdownGraceMs);
      if (!drained) log.warn({ inflight: inflight.size }, 'drain timed out; closing remaining connections');
      for (const a of apps) a.server.closeAllConnections();
      await closing;
      await Promise.all([sessions.closeAll(), hub.close()]);
      plans.stop();
    },
  };
}
