import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { httpClient, wsClient } from '../support/mcp-clients.js';
import { freePorts } from '../support/ports.js';

/**
 * The two-command promise: `npm start` brings up the whole platform and prints what to
 * connect to; a real client calls both tools with a printed key over HTTP and WebSocket;
 * Ctrl-C stops everything; a second start reuses the state and prints the same keys.
 * Runs in its own state folder, database, Redis index and ports, so it touches no dev data.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let stateDir: string;
let env: NodeJS.ProcessEnv;

interface Demo {
  mcpHttpUrl: string;
  mcpWsUrl: string;
  statusUrl: string;
  adminUrl: string;
  temporalWebUrl: string;
  keys: { free: string; pro: string; ultra: string };
}

let DB: string;

beforeAll(async () => {
  DB = `${inject('databaseName')}_start`;
  stateDir = await mkdtemp(join(tmpdir(), 'tollgate-start-'));
  const [port, adminPort, statusPort, temporalPort, uiPort] = await freePorts(5);
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.end();
  env = {
    ...process.env,
    TOLLGATE_STATE_DIR: stateDir,
    PORT: String(port),
    ADMIN_PORT: String(adminPort),
    STATUS_PORT: String(statusPort),
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_UI_PORT: String(uiPort),
    DATABASE_URL: `postgres://tollgate_app@127.0.0.1:5432/${DB}`,
    DATABASE_OWNER_URL: `postgres://postgres@127.0.0.1:5432/${DB}`,
    // Its own Redis database: its billing worker ingests the usage stream into its own Postgres database.
    REDIS_URL: inject('separateRedisUrls')[0]!,
  };
});

afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** Runs `npm start` until it prints that it is running; returns the process and its output. */
async function start(): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (out.includes('Press Ctrl-C to stop')) resolve();
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${out}`)));
  });
  return { child, output: () => out };
}

/**
 * Ctrl-C: SIGINT to the whole process group, as a terminal sends it. npm itself dies of
 * the signal; the stack's own shutdown is what must finish and report.
 */
async function stop(run: { child: ChildProcess; output: () => string }): Promise<void> {
  const stopped = new Promise<void>((resolve) => {
    const check = () => {
      if (run.output().includes('[tollgate] stopped')) resolve();
    };
    run.child.stdout!.on('data', check);
    check();
  });
  const exited = new Promise<void>((resolve) => run.child.once('exit', () => resolve()));
  process.kill(-run.child.pid!, 'SIGINT');
  await Promise.all([stopped, exited]);
}

describe('npm start', () => {
  it('starts everything, prints URLs and keys, serves real clients, and stops on Ctrl-C', { timeout: 180_000 }, async () => {
    const first = await start();
    const demo = JSON.parse(await readFile(join(stateDir, 'demo.json'), 'utf8')) as Demo;
    for (const key of Object.values(demo.keys)) expect(first.output()).toContain(key);
    for (const url of [demo.mcpHttpUrl, demo.mcpWsUrl, demo.temporalWebUrl, demo.adminUrl]) expect(first.output()).toContain(url);

    const ready = await fetch(`${demo.statusUrl}/ready`);
    expect(ready.status).toBe(200);
    const ui = await fetch(demo.temporalWebUrl);
    expect(ui.status).toBe(200);

    const http = await httpClient(demo.mcpHttpUrl, demo.keys.pro, 'modern');
    expect((await http.callTool({ name: 'text_stats', arguments: { text: 'two words' } })).structuredContent).toMatchObject({ words: 2 });
    expect((await http.callTool({ name: 'count_primes', arguments: { to: 1_000 } })).structuredContent).toMatchObject({ count: 168 });
    await http.close();
    const ws = await wsClient(demo.mcpWsUrl, demo.keys.ultra);
    expect((await ws.callTool({ name: 'count_primes', arguments: { to: 100 } })).structuredContent).toMatchObject({ count: 25 });
    await ws.close();

    await stop(first);
    await expect(fetch(`${demo.statusUrl}/health`)).rejects.toThrow();
    await expect(fetch(demo.temporalWebUrl)).rejects.toThrow();

    const second = await start();
    const again = JSON.parse(await readFile(join(stateDir, 'demo.json'), 'utf8')) as Demo;
    expect(again.keys).toEqual(demo.keys);
    expect(second.output()).toContain('reusing the demo keys');
    await stop(second);
  });
});
