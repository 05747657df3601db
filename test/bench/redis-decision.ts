/**
 * (a) and (a') of `npm run bench`: what one admission decision costs Redis, in µs of CPU
 * (INFO commandstats, next to a trivial EVALSHA) and in instructions (a Redis server of its
 * own under callgrind). Both alone and in batches of calls of one shape, as the gateway
 * sends the calls of one key that arrive together.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { calendarPeriods, RING_MAX_CALLS, toolCallLevels } from '../../core/admission/levels.js';
import { randomBase58 } from '../../core/ids.js';
import type { Plan } from '../../core/plans.js';
import { acquireAndRelease, acquireManyPrepared, prepareAcquire, registerScripts, releaseMany } from '../../platform/redis/commands.js';
import { freePorts } from '../support/ports.js';
import { uniformLimits } from '../support/plan-limits.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Calls per script call in the batched figures. */
export const BATCH = 8;

/** A count out of reach. */
export const HIGH = 1_000_000_000;
export const BENCH_PLAN: Plan = {
  id: 'bench',
  name: 'Bench',
  rank: 90,
  // Every level is computed and charged; none is within reach.
  limits: uniformLimits(HIGH),

  allowedTools: ['noop', 'noop_workflow'],
  cacheTtlSeconds: 0,
  quotaPolicy: 'block',
};

/** The bench plan with a burst small enough to keep as a ring (every seeded plan's case). */
export const RING_PLAN: Plan = { ...BENCH_PLAN, limits: { ...BENCH_PLAN.limits, burst: { max: RING_MAX_CALLS, windowMs: 1_000 } } };

/** Progress lines, and every child process started (the bench kills the survivors when it ends). */
export interface BenchIo {
  readonly say: (line: string) => void;
  readonly track: (child: ChildProcess) => void;
}

/**
 * (a) Redis CPU per decision from INFO commandstats, next to a trivial EVALSHA. Each
 * decision's lease is released afterwards, as a real call's is (the admission hash stays
 * as small as in production); releases go out as EVAL, so commandstats keeps them apart:
 * `evalsha` is the decision, `eval` the release (which then also pays for hashing the
 * script's text, so its figure is an upper bound). Measured twice: with the burst window
 * as a ring of call times (every seeded plan: bursts of at most RING_MAX_CALLS) and as a
 * counted ring (larger bursts, as the bench plan of (b) needs).
 */
export async function redisCost(redisUrl: string, { say }: Pick<BenchIo, 'say'>) {
  const redis = registerScripts(new Redis(redisUrl));
  const measure = async (plan: Plan, batch = 1, orgs = 500) => {
    await redis.flushdb();
    const run = (n: number) => decideAndRelease(redis, plan, n, orgs, 50, batch);
    await run(5_000); // warm-up: scripts cached, keys exist
    await redis.config('RESETSTAT');
    const decisions = 20_000;
    const t0 = performance.now();
    await run(decisions);
    const perSecond = Math.round(decisions / ((performance.now() - t0) / 1000));
    const stats = await redis.info('commandstats');
    return { decisionUs: Math.round((usecPerCall(stats, 'evalsha') / batch) * 100) / 100, releaseUs: usecPerCall(stats, 'eval'), perSecond };
  };
  // 500 organizations at ~15 000 decisions/s: ~30 calls/s each, inside a ring's burst.
  const ring = await measure(RING_PLAN);
  const counted = await measure(BENCH_PLAN);
  // Batches go faster: more organizations keep each one inside its ring's burst.
  const batched = await measure(RING_PLAN, BATCH, 2_000);
  const sha = (await redis.script('LOAD', 'return 1')) as string;
  await redis.config('RESETSTAT');
  const out = execFileSync('redis-benchmark', ['-h', '127.0.0.1', '-p', '6379', '-n', '200000', '-c', '50', '-q', 'evalsha', sha, '0']).toString();
  const trivialRps = Number(/([\d.]+) requests per second/.exec(out.split('\r').pop() ?? out)?.[1] ?? 0);
  const trivialUs = usecPerCall(await redis.info('commandstats'), 'evalsha');
  redis.disconnect();
  say(`admission decision: ${ring.decisionUs} µs of Redis CPU with the burst as a ring, ${counted.decisionUs} µs as a counted ring (+${ring.releaseUs} µs for the release), ${ring.perSecond} decisions/s; in batches of ${BATCH}: ${batched.decisionUs} µs per decision; trivial EVALSHA: ${trivialUs} µs, ${trivialRps} calls/s`);
  const levels = toolCallLevels({ orgId: 'o', userId: 'u', keyId: 'k', ip: 'i', plan: BENCH_PLAN, group: 'core' }, calendarPeriods(Date.now())).length;
  return {
    decisionUs: ring.decisionUs,
    decisionCountedUs: counted.decisionUs,
    releaseUs: ring.releaseUs,
    decisionsPerSecond: ring.perSecond,
    batchedDecisionUs: batched.decisionUs,
    batchedDecisionsPerSecond: batched.perSecond,
    levels,
    trivialUs,
    trivialRps,
  };
}

/**
 * `n` tools/call decisions of `plan` over `orgs` organizations, `inFlight` script calls at a
 * time, each deciding `batch` calls of one shape (as the gateway sends the calls of one key
 * that arrive together) and each call followed by its release as a real call's is (the
 * admission hash stays as small as in production). Releases go out as EVAL so that
 * commandstats and callgrind (both counting EVALSHA) keep them apart from the decisions.
 */
async function decideAndRelease(redis: Redis, plan: Plan, n: number, orgs: number, inFlight: number, batch = 1): Promise<void> {
  const releaseLua = readFileSync(join(ROOT, 'platform/redis/scripts/admission-release.lua'), 'utf8');
  const cycle = async (i: number) => {
    const levels = toolCallLevels({ orgId: `org_bench${i % orgs}`, userId: 'usr_bench', keyId: 'key_bench', ip: '127.0.0.1', plan, group: 'core' }, calendarPeriods(Date.now()));
    const leases = Array.from({ length: batch }, () => randomBase58(12));
    const results = await acquireManyPrepared(redis, prepareAcquire(levels, 60_000), leases);
    const refused = results.find((r) => !r.admitted);
    if (refused) throw new Error(`bench decision refused at level ${refused.refusingLevel}`);
    await Promise.all(leases.map((lease) => redis.eval(releaseLua, 1, levels[0]!.key, lease, '', '1')));
  };
  const cycles = n / batch;
  for (let i = 0; i < cycles; i += inFlight) await Promise.all(Array.from({ length: Math.min(inFlight, cycles - i) }, (_, j) => cycle(i + j)));
}

/**
 * `n` calls in turns of BATCH calls of one shape over 50 organizations, as the gateway sends
 * them under load: each turn decides BATCH calls and releases the BATCH calls of the
 * organization's previous turn, either carried by the decision (one script call) or apart
 * (admission-release-many.lua next to it). Both go out as EVALSHA: per call, a decision and
 * a release.
 */
async function turns(redis: Redis, n: number, carried: boolean): Promise<void> {
  const ended = new Map<number, string[]>();
  const turn = async (o: number) => {
    const levels = toolCallLevels({ orgId: `org_turns${o}`, userId: 'usr_bench', keyId: 'key_bench', ip: '127.0.0.1', plan: RING_PLAN, group: 'core' }, calendarPeriods(Date.now()));
    const prepared = prepareAcquire(levels, 60_000);
    const leases = Array.from({ length: BATCH }, () => randomBase58(12));
    const releases = ended.get(o) ?? [];
    const [{ results }] = await Promise.all([
      acquireAndRelease(redis, prepared, leases, carried ? releases : []),
      carried ? 0 : releaseMany(redis, prepared.admissionHash!, releases),
    ]);
    if (results.some((r) => !r.admitted)) throw new Error('bench decision refused');
    ended.set(o, leases);
  };
  for (let i = 0; i < n / BATCH; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => turn((i + j) % 50)));
}

/**
 * (a') The same decision counted in instructions, not microseconds: a Redis server of its
 * own under valgrind's callgrind, collecting only inside EVALSHA. Instruction counts repeat
 * exactly from run to run, whatever else the shared cores do, so they show a change to the
 * script that the µs figure (±15% between runs on these VMs) cannot. Next to the same count
 * for the trivial script. Skipped, with a note, where valgrind is not installed.
 */
export async function redisInstructions({
  say,
  track,
}: BenchIo): Promise<{ decision: number; batched: number; batchedHot: number; turnApart: number; turnCarried: number; trivial: number } | undefined> {
  try {
    execFileSync('valgrind', ['--version']);
  } catch {
    say('valgrind not installed: instruction counts skipped');
    return undefined;
  }
  const [port] = await freePorts(1);
  const dir = join(ROOT, '.tollgate', 'bench', 'callgrind');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const server = spawn('valgrind', ['--tool=callgrind', '--toggle-collect=evalShaCommand', `--callgrind-out-file=${dir}/out.%p`, 'redis-server', '--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  track(server);
  const redis = registerScripts(new Redis({ port: port!, host: '127.0.0.1', retryStrategy: () => 200, maxRetriesPerRequest: null }));
  // Refused connections while valgrind starts the server are expected: ioredis retries.
  redis.on('error', () => {});
  try {
    await redis.ping();
    /** Instructions per call of what `run` sends, from the dump callgrind writes after it. */
    let dumps = 0;
    const count = async (calls: number, run: () => Promise<void>) => {
      await run();
      execFileSync('callgrind_control', ['-d', String(server.pid)], { stdio: 'ignore' });
      dumps++;
      const file = join(dir, `out.${server.pid}.${dumps}`);
      const totals = /^totals: (\d+)/m.exec(readFileSync(file, 'utf8'));
      return Math.round(Number(totals?.[1]) / calls);
    };
    const sha = (await redis.script('LOAD', 'return 1')) as string;
    const trivial = await count(500, async () => {
      for (let i = 0; i < 500; i += 50) await Promise.all(Array.from({ length: 50 }, () => redis.evalsha(sha, 0)));
    });
    const decisions = (n: number, batch = 1) => () => decideAndRelease(redis, RING_PLAN, n, 50, 20, batch);
    await count(500, decisions(500)); // warm-up: every organization's hash in place
    const decision = await count(1_000, decisions(1_000));
    const batched = await count(1_000, decisions(1_000, BATCH));
    // The load of (b): one organization far below every limit, at full rate, in batches;
    // its burst (the bench plan's) is a counted ring.
    const batchedHot = await count(1_000, () => decideAndRelease(redis, BENCH_PLAN, 1_000, 1, 20, BATCH));
    // Per call, its decision and its release, as the gateway sends them under load.
    const turnApart = await count(1_000, () => turns(redis, 1_000, false));
    const turnCarried = await count(1_000, () => turns(redis, 1_000, true));
    say(
      `admission decision: ${decision} instructions (callgrind), ${batched} per decision in batches of ${BATCH}, ${batchedHot} with one organization at full rate (a counted ring); ` +
        `decision and release per call: ${turnApart} with the releases apart, ${turnCarried} carried; trivial EVALSHA: ${trivial}`,
    );
    return { decision, batched, batchedHot, turnApart, turnCarried, trivial };
  } finally {
    redis.disconnect();
    await new Promise((resolve) => {
      server.once('exit', resolve);
      server.kill('SIGTERM');
    });
  }
}

function usecPerCall(info: string, command: 'evalsha' | 'eval'): number {
  return Number(new RegExp(`cmdstat_${command}:.*usec_per_call=([\\d.]+)`).exec(info)?.[1] ?? NaN);
}
