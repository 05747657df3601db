import type { FastifyInstance } from 'fastify';

/**
 * Counts a listener's in-flight HTTP requests (finished or aborted both end one), so a
 * drain can wait for them and then close whatever connections are left. Node keeps a
 * socket whose request the client aborted on its books until the keep-alive timer
 * fires, so `server.close()` alone would wait that long.
 */
export class InflightRequests {
  private count = 0;
  private waiters: Array<() => void> = [];

  track(app: FastifyInstance): void {
    app.addHook('onRequest', async (_request, reply) => {
      this.count++;
      reply.raw.once('close', () => {
        this.count--;
        if (this.count === 0) for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  get size(): number {
    return this.count;
  }

  /** Resolves true once nothing is in flight, or false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
