import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../platform/pg/migrate.js';
import { ensureTemporalCli } from '../../scripts/lib/temporal-cli.js';
import { startDevServer, type DevServer } from '../../scripts/lib/temporal-dev-server.js';
import { WORKFLOWS_PATH } from '../../workers/src/tool-calls-worker.js';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../workers/src/tracing.js';

/**
 * Starts what the integration suite needs, once per run: a Temporal dev server (built
 * once from the cached CLI; in-memory, headless, own port), a fresh `tollgate_test`
 * database with every migration applied, an emptied Redis database index (dev data in
 * index 0 is untouched), and the workflow bundle every in-process worker shares.
 * `TEST_DATABASE_NAME` and `TEST_REDIS_URL` let two runs on one machine stay apart.
 */
const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TEST_DB = process.env.TEST_DATABASE_NAME ?? 'tollgate_test';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/9';
/**
 * The next two database indexes, for tests that run whole stacks of processes whose billing
 * workers consume the usage stream: `npm start` on its own Postgres database, and the
 * log-redaction processes. Each gets a stream of its own, so neither takes the suite's
 * records (the exactly-once tests rely on knowing who reads them).
 */
const SEPARATE_REDIS_URLS = [nextDatabaseIndex(REDIS_URL, 1), nextDatabaseIndex(REDIS_URL, 2)];

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    databaseOwnerUrl: string;
    databaseUrl: string;
    redisUrl: string;
    /** Redis databases of their own for separate stacks (emptied at setup): [npm start, log redaction]. */
    separateRedisUrls: string[];
    workflowBundlePath: string;
    /** Base name for databases tests create for themselves (`<name>_start`, `<name>_migrate`). */
    databaseName: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cli = await ensureTemporalCli((l) => console.log(`[test setup] ${l}`));
  const temporal = await startTemporal(cli);

  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEST_DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEST_DB}`);
  await admin.end();
  const ownerUrl = withDatabase(PG_ADMIN_URL, TEST_DB);
  await migrate(ownerUrl);
  const appUrl = new URL(ownerUrl);
  appUrl.username = 'tollgate_app';

  for (const url of [REDIS_URL, ...SEPARATE_REDIS_URLS]) {
    const redis = new Redis(url);
    await redis.flushdb();
    redis.disconnect();
  }

  // Made as production bundles are: with the tracing interceptors (workers/src/tracing.ts).
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES, logger: quietLogger });
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-test-'));
  const workflowBundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, code);

  project.provide('temporalAddress', temporal.address);
  project.provide('databaseOwnerUrl', ownerUrl);
  project.provide('databaseUrl', appUrl.toString());
  project.provide('redisUrl', REDIS_URL);
  project.provide('separateRedisUrls', SEPARATE_REDIS_URLS);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('databaseName', TEST_DB);

  return async () => {
    await temporal.stop();
  };
}

function nextDatabaseIndex(url: string, step: number): string {
  const u = new URL(url);
  const index = Number(u.pathname.slice(1) || '0') + step;
  if (index > 15) throw new Error('TEST_REDIS_URL must use database 13 or lower: the separate stacks take the next two');
  u.pathname = `/${index}`;
  return u.toString();
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * A free port can be taken by someone else between our probe and the server's bind, so a
 * server that dies before answering is tried again on another port (its output says why).
 */
async function startTemporal(cli: string, attempts = 3): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServer({ cli, port: await freePort(), headless: true });
    } catch (err) {
      if (attempt >= attempts) throw err;
      console.log(`[test setup] ${(err as Error).message}; trying another port`);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const noop = () => {};
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => console.error(m), log: noop };
