/**
 * `npm run bench:lua`: what pieces of Lua cost inside Redis, to guide work on the admission
 * script (docs/performance.md, "Where admission's cost goes"). Each probe is a one-line
 * script sent 10 000 times (pipelined); the figure is `INFO commandstats` usec_per_call.
 * Keys here are hot (one key each): the same commands on many organizations' keys cost more.
 * Not a test: it asserts nothing. Uses Redis database 14 (as `npm run bench`) and flushes it.
 */
import { Redis } from 'ioredis';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';
const CALLS = 10_000;

const PROBES: Record<string, string> = {
  'empty script': `return 1`,
  'TIME': `redis.call('TIME') return 1`,
  '10 x HGET': `for i = 1, 10 do redis.call('HGET', KEYS[1], 'a') end return 1`,
  '10 x HSET': `for i = 1, 10 do redis.call('HSET', KEYS[1], 'a', i) end return 1`,
  '10 x ZCOUNT': `for i = 1, 10 do redis.call('ZCOUNT', KEYS[2], '(' .. i, '+inf') end return 1`,
  '10 x ZADD': `for i = 1, 10 do redis.call('ZADD', KEYS[2], 1e15, 'm') end return 1`,
  '80 table stores': `local t = {} for i = 1, 80 do t[i] = i end return 1`,
  'unpack an 11-level spec': `local v = { struct.unpack('<' .. string.rep('BBdddBB', 11), ARGV[1]) } return 1`,
  '4 buckets as "tokens:ts" text': `local v = '12.345678:1732190000000' for i = 1, 4 do local sep = string.find(v, ':', 1, true) local t = tonumber(string.sub(v, 1, sep - 1)) local ts = tonumber(string.sub(v, sep + 1)) local x = (t - 1 + i / 3) .. ':' .. ts end return 1`,
  '4 buckets as packed doubles': `local v = struct.pack('<dd', 12.345678, 1732190000000) for i = 1, 4 do local t, ts = struct.unpack('<dd', v) local x = struct.pack('<dd', t - 1 + i / 3, ts) end return 1`,
};

const redis = new Redis(REDIS_URL);
await redis.flushdb();
await redis.hset('{probe}h', 'a', '1');
await redis.zadd('{probe}z', 1e15, 'm');
const spec = Buffer.alloc(28 * 11);
console.log('| probe | µs of Redis CPU per script |\n| --- | ---: |');
for (const [name, lua] of Object.entries(PROBES)) {
  const sha = (await redis.script('LOAD', lua)) as string;
  await redis.config('RESETSTAT');
  for (let sent = 0; sent < CALLS; sent += 100) {
    const batch = redis.pipeline();
    for (let i = 0; i < 100; i++) batch.evalsha(sha, 2, '{probe}h', '{probe}z', spec);
    await batch.exec();
  }
  const us = /cmdstat_evalsha:.*usec_per_call=([\d.]+)/.exec(await redis.info('commandstats'))?.[1];
  console.log(`| ${name} | ${us} |`);
}
await redis.flushdb();
redis.disconnect();
