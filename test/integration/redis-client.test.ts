import { once } from 'node:events';
import { describe, expect, inject, it } from 'vitest';
import { createRedis } from '../../platform/redis/client.js';
import { registerScripts, releaseMany } from '../../platform/redis/commands.js';

/**
 * The admission connection fails fast instead of queueing (a Redis outage must become an
 * admission decision at once), including in the moment before its first connection is up,
 * when the gateway may already be deciding.
 */
describe('the admission connection', () => {
  it('refuses commands sent before it is ready, at once and cleanly, then serves the URL database', async () => {
    const url = inject('redisUrl');
    const database = Number(new URL(url).pathname.slice(1) || 0);
    const redis = registerScripts(createRedis(url, 'admission'));
    const errors: Error[] = [];
    redis.on('error', (err: Error) => errors.push(err));
    try {
      const early = await Promise.allSettled([redis.ping(), redis.xadd('tg:{test}:early', '*', 'r', '1'), releaseMany(redis, 'tg:{test}:adm', ['call_early'])]);
      expect(early.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(String((early[0] as PromiseRejectedResult).reason)).toMatch(/enableOfflineQueue/);

      if (redis.status !== 'ready') await once(redis, 'ready');
      expect(await redis.ping()).toBe('PONG');
      // The database named in the URL was selected, whatever was refused before.
      expect(await redis.client('INFO')).toContain(` db=${database} `);
      expect(errors).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });
});
