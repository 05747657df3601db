/**
 * `npm run bench`: admission's cost and the gateway's throughput, every figure next to a
 * baseline measured in the same run on the same machine (absolute numbers drift with the
 * machine; ratios are what the targets are about). Not a test: it asserts nothing and
 * prints a report (and writes it as JSON under .tollgate/bench/).
 *
 *  (a) Redis CPU per admission decision (INFO commandstats) and decisions/s, next to
 *      redis-benchmark EVALSHA of a trivial script;
 *  (b) tools/call calls/s, p50/p99 and CPU time per call (server process and Redis, read
 *      from /proc over the measured window) over HTTP (2026-07-28 and a 2025-era session)
 *      and WebSocket, admission on and off, next to the bare MCP SDK server with the same
 *      tool (a server per request, and one reused session);
 *  (c) a workflow-backed no-op against the same no-op inline.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { RING_MAX_CALLS } from '../../core/admission/levels.js';
import { migrate } from '../../platform/pg/migrate.js';
import { createApiKey, createOrganization, createUser, provision } from '../../platform/tenancy/provisioning.js';
import { createPool } from '../../platform/pg/pool.js';
import { createPlan } from '../../platform/tenancy/plans-repo.js';
import { ensureTemporalCli } from '../../scripts/lib/temporal-cli.js';
import { startDevServer } from '../../scripts/lib/temporal-dev-server.js';
import { freePorts } from '../support/ports.js';
import type { LoadResult, LoadSpec } from './load.js';
import { BATCH, BENCH_PLAN, HIGH, redisCost, redisInstructions } from './redis-decision.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DB = 'tollgate_bench';
const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';
const OWNER_URL = `postgres://postgres@127.0.0.1:5432/${DB}`;
const APP_URL = `postgres://tollgate_app@127.0.0.1:5432/${DB}`;
const REDIS_URL = 'redis://127.0.0.1:6379/14';
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 5_000);
const WARMUP_MS = 1_500;
/** Rounds of (b): each row reports its median round. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = 32;
const say = (s: string) => process.stderr.write(`[bench] ${s}\n`);
const children: ChildProcess[] = [];
const LOG_DIR = join(ROOT, '.tollgate', 'bench', 'logs');
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** A load run's figures, with the CPU time each watched process spent per call (µs). */
interface Measured extends LoadResult {
  readonly cpuUsPerCall: Record<string, number>;
  /** Gateway with admission: calls decided per admission script call (its batching), over the run. */
  readonly callsPerDecisionCall?: number;
}

interface Row {
  readonly target: string;
  readonly transport: string;
  /** The median round. */
  readonly result: Measured;
  /** Every round, in order (round k of two rows ran minutes apart at most). */
  readonly rounds: readonly Measured[];
}

async function main(): Promise<void> {
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, redis: execFileSync('redis-server', ['--version']).toString().trim() };
  say(`machine: ${JSON.stringify(machine)}`);
  mkdirSync(LOG_DIR, { recursive: true });
  const key = await prepareData();
  const redisFigures = await redisCost(REDIS_URL, { say });
  const instructions = await redisInstructions({ say, track: (child) => children.push(child) });

  const cli = await ensureTemporalCli((l) => say(l));
  const [temporalPort] = await freePorts(1);
  const temporal = await startDevServer({ cli, port: temporalPort!, headless: true });
  const env = {
    DATABASE_URL: APP_URL,
    DATABASE_OWNER_URL: OWNER_URL,
    REDIS_URL,
    TEMPORAL_ADDRESS: temporal.address,
    LOG_LEVEL: 'info',
    TOLLGATE_PREAUTH_IP_PER_MINUTE: String(HIGH),
    TOLLGATE_TASK_QUEUE_PREFIX: 'bench-',
  };
  const redisPid = await redisServerPid();
  const rows: Row[] = [];
  /** Drives `url` and records calls/s, latency and CPU per call of `server` (pids) and Redis. */
  const measure = async (target: string, transport: LoadSpec['mode'], url: string, server: Record<string, number>, withKey: boolean, tool = 'noop', concurrency = CONCURRENCY) => {
    say(`${target} over ${transport}…`);
    const result = await runLoad({ url, mode: transport, ...(withKey ? { key } : {}), tool, args: {}, concurrency, durationMs: DURATION_MS, warmupMs: WARMUP_MS }, { ...server, redis: redisPid });
    say(`  ${result.rps} calls/s, p50 ${result.p50} ms, p99 ${result.p99} ms, CPU µs/call ${JSON.stringify(result.cpuUsPerCall)}${result.errors ? `, ${result.errors} errors` : ''}`);
    return result;
  };
  const load = async (...args: Parameters<typeof measure>) => {
    const result = await measure(...args);
    rows.push({ target: args[0], transport: args[1], result, rounds: [result] });
    return result;
  };

  // (b) The gateway (admission on and off) and both bare SDK servers stay up together, and
  // every round drives each of them in turn: whatever else slows the shared cores for a
  // while falls on all of them, and each row reports its median round.
  const gateways = await Promise.all(
    (['enforce', 'off'] as const).map(async (admission) => ({ admission, ...(await startService('gateway/src/main.ts', { ...env, TOLLGATE_ADMISSION: admission }, 'gateway listening')) })),
  );
  const bares = [{ mode: 'stateless' as const, ...(await startBare('stateless')) }, { mode: 'session' as const, ...(await startBare('session')) }];
  const targets: Array<{ label: string; transport: LoadSpec['mode']; url: string; pid: number; withKey: boolean; metrics?: string }> = [];
  for (const gw of gateways) {
    for (const transport of ['http-modern', 'http-legacy', 'ws'] as const) {
      const on = gw.admission === 'enforce';
      const label = on ? 'gateway, admission on' : 'gateway, admission off';
      targets.push({ label, transport, url: `http://127.0.0.1:${gw.port}/mcp`, pid: gw.child.pid!, withKey: true, ...(on ? { metrics: `http://127.0.0.1:${gw.statusPort}/metrics` } : {}) });
    }
  }
  for (const bare of bares) {
    const label = bare.mode === 'stateless' ? 'bare SDK, server per request' : 'bare SDK, one reused session';
    targets.push({ label, transport: bare.mode === 'stateless' ? 'http-modern' : 'http-legacy', url: `http://127.0.0.1:${bare.port}/mcp`, pid: bare.child.pid!, withKey: false });
  }
  const rounds: Measured[][] = targets.map(() => []);
  for (let round = 1; round <= ROUNDS; round++) {
    say(`round ${round} of ${ROUNDS}`);
    for (const [i, t] of targets.entries()) {
      const before = t.metrics ? await batchCalls(t.metrics) : undefined;
      const result = await measure(t.label, t.transport, t.url, { server: t.pid }, t.withKey);
      if (!t.metrics || !before) {
        rounds[i]!.push(result);
        continue;
      }
      const after = await batchCalls(t.metrics);
      const callsPerDecisionCall = Math.round(((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 100) / 100;
      say(`  ${callsPerDecisionCall} calls per admission script call`);
      rounds[i]!.push({ ...result, callsPerDecisionCall });
    }
  }
  targets.forEach((t, i) => rows.push({ target: t.label, transport: t.transport, result: medianRound(rounds[i]!), rounds: rounds[i]! }));
  for (const child of [...gateways, ...bares].map((x) => x.child)) await stop(child);

  const gw = await startService('gateway/src/main.ts', env, 'gateway listening');
  const worker = await startService('workers/src/tool-calls.worker.ts', env, 'worker started');
  const mcp = `http://127.0.0.1:${gw.port}/mcp`;
  const both = { server: gw.child.pid!, worker: worker.child.pid! };
  await load('no-op inline (gateway)', 'http-modern', mcp, both, true, 'noop', 8);
  await load('no-op as a workflow (gateway + worker)', 'http-modern', mcp, both, true, 'noop_workflow', 8);
  await stop(worker.child);
  await stop(gw.child);
  await temporal.stop();

  report(machine, redisFigures, instructions, rows);
}

/** A fresh bench database with the bench plan and one organization and key on it. */
async function prepareData(): Promise<string> {
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.end();
  await migrate(OWNER_URL);
  const pool = createPool(OWNER_URL, { max: 2 });
  const key = await provision(pool, async (db) => {
    await createPlan(db, BENCH_PLAN);
    const user = await createUser(db, { email: 'bench@tollgate.local', name: 'Bench' });
    const orgId = await createOrganization(db, { name: 'Bench', plan: 'bench', ownerId: user.userId });
    return (await createApiKey(db, { orgId, userId: user.userId, name: 'bench', scopes: ['mcp'] })).raw;
  });
  await pool.end();
  const redis = new Redis(REDIS_URL);
  await redis.flushdb();
  redis.disconnect();
  return key;
}

/** The gateway's admission batches so far: calls decided (sum) over script calls (count). */
async function batchCalls(metricsUrl: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const read = (name: string) => Number(new RegExp(`^${name} ([\\d.e+]+)$`, 'm').exec(text)?.[1] ?? 0);
  return { sum: read('tollgate_admission_batch_calls_sum'), count: read('tollgate_admission_batch_calls_count') };
}

/** The round whose calls/s is the median (its latency and CPU figures come with it). */
function medianRound(results: readonly Measured[]): Measured {
  const sorted = [...results].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The pid of the Redis server the bench uses (CPU accounting reads its /proc entry). */
async function redisServerPid(): Promise<number> {
  const redis = new Redis(REDIS_URL);
  const info = await redis.info('server');
  redis.disconnect();
  return Number(/process_id:(\d+)/.exec(info)?.[1]);
}

function report(machine: object, redis: Awaited<ReturnType<typeof redisCost>>, instructions: Awaited<ReturnType<typeof redisInstructions>>, rows: Row[]): void {
  const row = (target: string, transport: string) => rows.find((r) => r.target === target && r.transport === transport)?.result;
  const rps = (target: string, transport: string) => row(target, transport)?.rps ?? NaN;
  /** Server plus Redis CPU per call: what a call costs the machine, whatever else shares it. */
  const cost = (target: string, transport: string) => {
    const cpu = row(target, transport)?.cpuUsPerCall ?? {};
    return (cpu.server ?? NaN) + (cpu.redis ?? 0);
  };
  /** Server plus Redis CPU per call of one round. */
  const costOf = (m: Measured) => (m.cpuUsPerCall.server ?? NaN) + (m.cpuUsPerCall.redis ?? 0);
  /**
   * a / b round by round, as "median (lowest–highest)": the speed of these shared VMs moves
   * by up to a third between windows, so a ratio of two medians can mislead; the rounds of
   * two targets ran close together, and their spread says how far to trust the figure.
   */
  const perRound = (a: [string, string], b: [string, string], of: (m: Measured) => number, show: (x: number) => string) => {
    const ra = rows.find((r) => r.target === a[0] && r.transport === a[1])?.rounds ?? [];
    const rb = rows.find((r) => r.target === b[0] && r.transport === b[1])?.rounds ?? [];
    const xs = ra
      .map((m, i) => (rb[i] ? of(m) / of(rb[i]) : NaN))
      .filter(Number.isFinite)
      .sort((x, y) => x - y);
    if (xs.length < 2) return '';
    return `; round by round ${show(xs[Math.floor((xs.length - 1) / 2)]!)} (${show(xs[0]!)} to ${show(xs[xs.length - 1]!)})`;
  };
  const times = (x: number) => `${Math.round(x * 100) / 100}×`;
  const change = (x: number) => `${x >= 1 ? '+' : ''}${Math.round((x - 1) * 1000) / 10}%`;
  const stateless = rps('bare SDK, server per request', 'http-modern');
  const session = rps('bare SDK, one reused session', 'http-legacy');
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${Math.round((a / b - 1) * 1000) / 10}%`;
  const bestHttpTransport = rps('gateway, admission on', 'http-modern') >= rps('gateway, admission on', 'http-legacy') ? 'http-modern' : 'http-legacy';
  const bestHttp = rps('gateway, admission on', bestHttpTransport);
  const callsPerSecond = (m: Measured) => m.rps;
  const checks = [
    [
      `admission decision ≤ 15 µs of Redis CPU`,
      `${redis.decisionUs} µs (${ratio(redis.decisionUs, redis.trivialUs)}× a trivial EVALSHA); ${redis.decisionCountedUs} µs with a burst beyond ${RING_MAX_CALLS}; ${redis.batchedDecisionUs} µs per decision in batches of ${BATCH}` +
        (instructions ? `; ${instructions.decision} instructions (${ratio(instructions.decision, instructions.trivial)}× a trivial EVALSHA)` : ''),
    ],
    ...(['http-modern', 'http-legacy', 'ws'] as const).map((t) => {
      const on = cost('gateway, admission on', t);
      const off = cost('gateway, admission off', t);
      return [
        `admission adds ≤ 10% to a call's cost (${t})`,
        `CPU ${pct(on, off)} (${on} vs ${off} µs/call, gateway + Redis)${perRound(['gateway, admission on', t], ['gateway, admission off', t], costOf, change)}; calls/s ${pct(rps('gateway, admission on', t), rps('gateway, admission off', t))}`,
      ];
    }),
    [
      `HTTP ≥ 2× the SDK's server per request`,
      `${ratio(bestHttp, stateless)}× calls/s (${bestHttpTransport})${perRound(['gateway, admission on', bestHttpTransport], ['bare SDK, server per request', 'http-modern'], callsPerSecond, times)}; CPU per call ${ratio(cost('gateway, admission on', 'http-modern'), cost('bare SDK, server per request', 'http-modern'))}× the SDK's (http-modern)`,
    ],
    [
      `HTTP ≥ the SDK's reused session`,
      `${ratio(bestHttp, session)}× calls/s (${bestHttpTransport})${perRound(['gateway, admission on', bestHttpTransport], ['bare SDK, one reused session', 'http-legacy'], callsPerSecond, times)}; CPU per call ${ratio(cost('gateway, admission on', 'http-legacy'), cost('bare SDK, one reused session', 'http-legacy'))}× the SDK's`,
    ],
    [
      `WebSocket ≥ 3× the SDK's server per request`,
      `${ratio(rps('gateway, admission on', 'ws'), stateless)}× calls/s${perRound(['gateway, admission on', 'ws'], ['bare SDK, server per request', 'http-modern'], callsPerSecond, times)}; CPU per call ${ratio(cost('gateway, admission on', 'ws'), cost('bare SDK, server per request', 'http-modern'))}× the SDK's`,
    ],
  ];
  const lines = [
    `machine: ${JSON.stringify(machine)}`,
    '',
    `| Redis (a) | µs of Redis CPU per call | calls/s |`,
    `| --- | ---: | ---: |`,
    `| admission decision (${redis.levels} levels, one EVALSHA), burst as a ring (≤ ${RING_MAX_CALLS} calls) | ${redis.decisionUs} | ${redis.decisionsPerSecond} (with releases) |`,
    `| the same, burst as a counted ring (larger bursts) | ${redis.decisionCountedUs} | |`,
    `| the ring decision in batches of ${BATCH} calls of one shape (per decision) | ${redis.batchedDecisionUs} | ${redis.batchedDecisionsPerSecond} (with releases) |`,
    `| its release at the call's end (EVAL: includes hashing the script) | ${redis.releaseUs} | |`,
    `| trivial script (redis-benchmark EVALSHA) | ${redis.trivialUs} | ${redis.trivialRps} |`,
    '',
    ...(instructions
      ? [
          `| Redis (a'), callgrind | instructions per call |`,
          `| --- | ---: |`,
          `| admission decision, burst as a ring | ${instructions.decision} (${ratio(instructions.decision, instructions.trivial)}× the trivial script) |`,
          `| the same in batches of ${BATCH} calls of one shape, per decision | ${instructions.batched} (${ratio(instructions.batched, instructions.trivial)}×) |`,
          `| the same, one organization at full rate with a burst beyond ${RING_MAX_CALLS} (a counted ring), as in (b) | ${instructions.batchedHot} (${ratio(instructions.batchedHot, instructions.trivial)}×) |`,
          `| per call, its decision and its release, in turns of ${BATCH} calls: releases as a script call of their own | ${instructions.turnApart} (${ratio(instructions.turnApart, instructions.trivial)}×) |`,
          `| the same, releases carried by the organization's next decision (as the gateway sends them) | ${instructions.turnCarried} (${ratio(instructions.turnCarried, instructions.trivial)}×) |`,
          `| trivial script (EVALSHA) | ${instructions.trivial} |`,
        ]
      : ['(instruction counts skipped: valgrind not installed)']),
    '',
    `| target (b, c) | transport | calls/s | p50 ms | p99 ms | CPU µs/call: server | worker | Redis | calls per decision script call |`,
    `| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map((r) => {
      const cpu = r.result.cpuUsPerCall;
      return `| ${r.target} | ${r.transport} | ${r.result.rps} | ${r.result.p50} | ${r.result.p99} | ${cpu.server ?? ''} | ${cpu.worker ?? ''} | ${cpu.redis ?? ''} | ${r.result.callsPerDecisionCall ?? ''} |`;
    }),
    '',
    `| check | measured |`,
    `| --- | --- |`,
    ...checks.map(([k, v]) => `| ${k} | ${v} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const dir = join(ROOT, '.tollgate', 'bench');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ machine, redis, instructions, rows }, null, 2));
}

/** CPU time (user + system) a process has used so far, in µs, from /proc (Linux). */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, hence the last ')'): utime is 14th, stime 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS;
}

/**
 * Runs the load generator and samples the CPU time of `watch` (server and Redis processes)
 * over its measured window: CPU per call is the cost that matters on a busy host, where
 * calls/s also depends on what else shares the cores.
 */
function runLoad(spec: LoadSpec, watch: Record<string, number>): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/bench/load.ts'), JSON.stringify(spec)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const sample = () => Object.fromEntries(Object.entries(watch).map(([name, pid]) => [name, cpuMicros(pid)]));
    let before: Record<string, number> = {};
    let result: LoadResult | undefined;
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl)) as LoadResult | { phase: 'recording' };
        buffered = buffered.slice(nl + 1);
        if ('phase' in line) before = sample();
        else {
          const after = sample();
          result = line;
          const calls = Math.max(1, line.calls + line.errors);
          const cpuUsPerCall = Object.fromEntries(Object.keys(watch).map((name) => [name, Math.round((after[name]! - (before[name] ?? after[name]!)) / calls)]));
          resolve({ ...line, cpuUsPerCall });
        }
      }
    });
    child.once('exit', (code) => (code === 0 && result ? undefined : reject(new Error(`load generator exited with ${code}`))));
  });
}

/**
 * Starts a gateway or worker with its log going to a file under .tollgate/bench/ (as a
 * container runtime would take it), not through this process: reading every request's log
 * line here would spend the shared cores on the bench instead of the server.
 */
async function startService(entry: string, env: Record<string, string>, readyLine: string): Promise<{ child: ChildProcess; port: number; statusPort: number }> {
  const [port, adminPort, statusPort] = await freePorts(3);
  const logFile = join(LOG_DIR, `${entry.split('/').pop()!.replace(/\.ts$/, '')}-${port}.log`);
  const out = openSync(logFile, 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), ADMIN_PORT: String(adminPort), STATUS_PORT: String(statusPort), HOST: '127.0.0.1' },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  children.push(child);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + 60_000;
  while (!readFileSync(logFile, 'utf8').includes(`"msg":"${readyLine}"`)) {
    if (exited !== undefined) throw new Error(`${entry} exited with ${exited}; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`${entry} did not log "${readyLine}" within 60 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port: port!, statusPort: statusPort! };
}

async function startBare(mode: 'stateless' | 'session'): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/bench/bare-sdk-server.ts'), mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port)));
  return { child, port };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`[bench] failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
