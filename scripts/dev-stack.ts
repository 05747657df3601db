import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig, type Config } from '../platform/config.js';
import { ensureDatabase, migrate } from '../platform/pg/migrate.js';
import { createPool } from '../platform/pg/pool.js';
import { seedDemo, type DemoKeys } from './lib/demo.js';
import { ROOT, STATE_DIR } from './lib/paths.js';
import { ensureSearchAttributes } from './lib/search-attributes.js';
import { ensureTemporalCli } from './lib/temporal-cli.js';
import { frontendAnswers, startDevServer, type DevServer } from './lib/temporal-dev-server.js';

/**
 * `npm start`: the whole platform on a laptop. Checks Postgres and Redis, builds (once)
 * and starts the Temporal dev server with its Web UI, migrates, seeds a demo tenant with
 * one key per plan, starts the gateway and the workers (tool calls; billing and usage), and prints what to connect to.
 * Ctrl-C stops everything it started.
 */
const say = (line: string) => console.log(`[tollgate] ${line}`);
const children: ChildProcess[] = [];
/** Resolve once each child's output has been fully written to its log file. */
const logsFlushed: Array<Promise<void>> = [];
let devServer: DevServer | undefined;
let stopping = false;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  await mkdir(join(STATE_DIR, 'logs'), { recursive: true });

  await checkPostgres(config.postgres.ownerUrl);
  await checkRedis(config.redis.url);

  const temporalAddress = config.temporal.address;
  const temporalPort = Number(temporalAddress.split(':').pop());
  const uiPort = Number(process.env.TEMPORAL_UI_PORT ?? temporalPort + 1000);
  let temporalWebUrl = `http://localhost:${uiPort}`;
  if (await frontendAnswers(temporalAddress)) {
    say(`reusing the Temporal server already answering at ${temporalAddress}`);
  } else {
    const cli = await ensureTemporalCli(say);
    say(`starting the Temporal dev server on ${temporalAddress} (state in .tollgate/temporal.db)`);
    devServer = await startDevServer({
      cli,
      port: temporalPort,
      uiPort,
      dbFile: join(STATE_DIR, 'temporal.db'),
      logFile: join(STATE_DIR, 'logs', 'temporal.log'),
      namespace: config.temporal.namespace,
    });
    temporalWebUrl = devServer.uiUrl?.replace('127.0.0.1', 'localhost') ?? temporalWebUrl;
  }
  const connection = await Connection.connect({ address: temporalAddress });
  const added = await ensureSearchAttributes(connection, config.temporal.namespace);
  if (added.length) say(`registered search attributes: ${added.join(', ')}`);
  await connection.close();

  if (await ensureDatabase(config.postgres.ownerUrl)) say(`created database ${dbName(config.postgres.ownerUrl)}`);
  const migrated = await migrate(config.postgres.ownerUrl);
  say(migrated.applied.length ? `applied ${migrated.applied.length} migration(s)` : 'database schema is up to date');

  const demoFile = join(STATE_DIR, 'demo.json');
  const previous = await readJson<{ keys?: Partial<DemoKeys> }>(demoFile);
  const pool = createPool(config.postgres.ownerUrl, { max: 2, applicationName: 'tollgate-seed' });
  const { keys, created } = await seedDemo(pool, previous?.keys);
  await pool.end();
  say(created.length ? `created demo keys for: ${created.join(', ')}` : 'reusing the demo keys from .tollgate/demo.json');

  const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: temporalAddress };
  startChild('gateway', ['gateway/src/main.ts'], env);
  startChild('worker', ['workers/src/tool-calls.worker.ts'], { ...env, TOLLGATE_WORKER_METRICS_ADDRESS: env.TOLLGATE_WORKER_METRICS_ADDRESS ?? '127.0.0.1:9464' });
  // Both workers on one machine: the billing worker's Temporal metrics on the next port.
  startChild('billing-worker', ['workers/src/billing.worker.ts'], { ...env, TOLLGATE_WORKER_METRICS_ADDRESS: env.TOLLGATE_BILLING_WORKER_METRICS_ADDRESS ?? '127.0.0.1:9465' });

  const statusUrl = `http://localhost:${config.http.statusPort}`;
  await waitForReady(`${statusUrl}/ready`, 60_000);

  const facts = {
    mcpHttpUrl: `http://localhost:${config.http.port}/mcp`,
    mcpWsUrl: `ws://localhost:${config.http.port}/mcp`,
    statusUrl,
    adminUrl: `http://localhost:${config.http.adminPort}`,
    temporalWebUrl,
    keys,
  };
  await writeFile(demoFile, `${JSON.stringify(facts, null, 2)}\n`, { mode: 0o600 });
  console.log(`
  Tollgate is running.

    MCP (Streamable HTTP)  ${facts.mcpHttpUrl}
    MCP (WebSocket)        ${facts.mcpWsUrl}   (subprotocol "mcp")
    Status                 ${facts.statusUrl}/ready
    Admin                  ${facts.adminUrl}
    Temporal Web           ${facts.temporalWebUrl}
    Billing                ${config.billing.mode === 'local' ? 'local mode: plans change without charges (set STRIPE_SECRET_KEY to bill through Stripe)' : `Stripe (${config.stripe.apiBase ?? 'api.stripe.com'})`}

  Demo API keys (send as "Authorization: Bearer <key>"):
    free   ${keys.free}
    pro    ${keys.pro}
    ultra  ${keys.ultra}

  The same facts are in .tollgate/demo.json; logs are in .tollgate/logs/.
  Press Ctrl-C to stop.
`);
}

function startChild(name: string, args: string[], env: NodeJS.ProcessEnv): void {
  const log = createWriteStream(join(STATE_DIR, 'logs', `${name}.log`), { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // Two sources share one file: neither may end it; it ends once both have drained.
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  logsFlushed.push(
    Promise.all([finished(child.stdout), finished(child.stderr)]).then(
      () => new Promise<void>((resolve) => log.end(resolve)),
    ),
  );
  if (process.env.TOLLGATE_START_LOGS === 'inherit') {
    child.stdout?.pipe(process.stdout);
    child.stderr?.pipe(process.stderr);
  }
  child.once('exit', (code, signal) => {
    if (stopping) return;
    say(`${name} exited (${signal ?? code}); see .tollgate/logs/${name}.log. Stopping.`);
    void stop(1);
  });
  children.push(child);
  say(`started ${name} (pid ${child.pid}); logs in .tollgate/logs/${name}.log`);
}

async function waitForReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (stopping) return;
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = await res.text();
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(300);
  }
  fail(`the gateway did not become ready within ${timeoutMs / 1000} s (last answer: ${last}); see .tollgate/logs/gateway.log`);
}

async function checkPostgres(url: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
  } catch (e) {
    fail(
      `cannot reach Postgres at ${redactCredentials(url)} (${(e as Error).message}).\n` +
        '  Start a local Postgres (for example "pg_ctlcluster 15 main start" or "brew services start postgresql"),\n' +
        '  or point DATABASE_OWNER_URL and DATABASE_URL at a running server.',
    );
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3_000 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    fail(
      `cannot reach Redis at ${redactCredentials(url)} (${(e as Error).message}).\n` +
        '  Start a local Redis (for example "redis-server --daemonize yes"), or point REDIS_URL at a running server.',
    );
  } finally {
    redis.disconnect();
  }
}

/** Stops everything this run started, once; later calls (a second Ctrl-C) wait for the first. */
async function stop(code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  say('stopping…');
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const kill = setTimeout(() => c.kill('SIGKILL'), 15_000);
          c.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  await devServer?.stop();
  await Promise.all(logsFlushed);
  say('stopped');
  // Exit only once stdout has taken our last line (it may be a pipe).
  process.stdout.write('', () => process.exit(code));
  return new Promise<never>(() => {});
}

function fail(message: string): never {
  console.error(`[tollgate] ${message}`);
  void stop(1);
  throw new Error(message);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function dbName(url: string): string {
  return new URL(url).pathname.slice(1);
}

function redactCredentials(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
main().catch((e: unknown) => {
  if (!stopping) console.error(`[tollgate] start failed: ${(e as Error).stack ?? String(e)}`);
  void stop(1);
});
