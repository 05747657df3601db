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
import { startDevServer } from '../../scripts/lib/temporal-dev-server.js';
import { WORKFLOWS_PATH } from '../../workers/src/tool-calls-worker.js';

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

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    databaseOwnerUrl: string;
    databaseUrl: string;
    redisUrl: string;
    workflowBundlePath: string;
    /** Base name for databases tests create for themselves (`<name>_start`, `<name>_migrate`). */
    databaseName: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [cli, port] = await Promise.all([ensureTemporalCli((l) => console.log(`[test setup] ${l}`)), freePort()]);
  const temporal = await startDevServer({ cli, port, headless: true });

  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEST_DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEST_DB}`);
  await admin.end();
  const ownerUrl = withDatabase(PG_ADMIN_URL, TEST_DB);
  await migrate(ownerUrl);
  const appUrl = new URL(ownerUrl);
  appUrl.username = 'tollgate_app';

  const redis = new Redis(REDIS_URL);
  await redis.flushdb();
  redis.disconnect();

  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-test-'));
  const workflowBundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, code);

  project.provide('temporalAddress', temporal.address);
  project.provide('databaseOwnerUrl', ownerUrl);
  project.provide('databaseUrl', appUrl.toString());
  project.provide('redisUrl', REDIS_URL);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('databaseName', TEST_DB);

  return async () => {
    await temporal.stop();
  };
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
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
