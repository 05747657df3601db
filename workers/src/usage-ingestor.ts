import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../platform/logger.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import { withSystem } from '../../platform/tenancy/db-context.js';
import { insertUsageRecords } from '../../platform/usage/usage-store.js';
import { ackUsage, claimStaleUsage, ensureUsageGroup, readUsage, type StreamEntry } from '../../platform/usage/usage-stream.js';

export interface UsageIngestorDeps {
  /** A connection to duplicate: each shard reads on a connection of its own (reads block). */
  readonly redis: Redis;
  readonly pool: Pool;
  readonly shards: number;
  /** This process's name in the consumer group (unique per process). */
  readonly consumer: string;
  readonly claimIdleMs: number;
  readonly log: Logger;
  readonly batch?: number;
  readonly blockMs?: number;
  /** Told how many records each stored batch inserted and how many were already stored. */
  readonly onBatch?: (inserted: number, duplicates: number) => void;
}

/**
 * Moves usage records from the Redis stream into Postgres, exactly once: every shard is read
 * in batches through a consumer group, a batch is inserted idempotently (by call id) and only
 * then acknowledged and deleted. A batch read by a worker that died is claimed by another
 * after `claimIdleMs` and inserted again, which the idempotent insert turns into a no-op.
 * Several workers share the shards; each entry goes to one of them at a time.
 */
export class UsageIngestor {
  private stopping = false;
  private loops: Array<Promise<void>> = [];
  private readonly connections: Redis[] = [];

  constructor(private readonly deps: UsageIngestorDeps) {}

  start(): void {
    for (let shard = 0; shard < this.deps.shards; shard++) {
      const connection = this.deps.redis.duplicate();
      this.connections.push(connection);
      this.loops.push(this.run(shard, connection));
    }
  }

  /** Finishes the batches in hand (no new reads), then closes the shard connections. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    await Promise.allSettled(this.connections.map((c) => c.quit()));
  }

  private async run(shard: number, redis: Redis): Promise<void> {
    const { log, consumer, claimIdleMs } = this.deps;
    const batch = this.deps.batch ?? 500;
    const blockMs = this.deps.blockMs ?? 1_000;
    let grouped = false;
    let lastClaim = 0;
    let failures = 0;
    while (!this.stopping) {
      try {
        if (!grouped) {
          await ensureUsageGroup(redis, shard);
          grouped = true;
        }
        let entries: StreamEntry[] = [];
        // Entries a dead reader left behind, checked a few times per idle period.
        if (Date.now() - lastClaim >= claimIdleMs / 3) {
          lastClaim = Date.now();
          entries = await claimStaleUsage(redis, shard, consumer, claimIdleMs, batch);
          if (entries.length > 0) log.info({ shard, entries: entries.length }, 'usage entries claimed from a stalled reader');
        }
        if (entries.length === 0) entries = await readUsage(redis, shard, consumer, batch, blockMs);
        if (entries.length > 0) await this.store(shard, redis, entries);
        failures = 0;
      } catch (err) {
        failures++;
        // A Redis that restarted without its data has lost the group too: create it again.
        if (String((err as Error).message).includes('NOGROUP')) grouped = false;
        log.warn({ err, shard, failures }, 'usage ingest failed; retrying');
        await sleep(Math.min(200 * 2 ** Math.min(failures, 5), 5_000));
      }
    }
  }

  private async store(shard: number, redis: Redis, entries: StreamEntry[]): Promise<void> {
    const records = entries.flatMap((e) => e.records);
    for (const entry of entries) {
      for (const raw of entry.invalid) {
        // Not a record this version understands: kept in the log (records hold no secrets), not retried forever.
        this.deps.log.error({ shard, entryId: entry.id, raw: raw.slice(0, 2_000) }, 'usage entry is not a valid record; dropped');
      }
    }
    const inserted = await withSystem(this.deps.pool, (db) => insertUsageRecords(db, records));
    await ackUsage(redis, shard, entries.map((e) => e.id));
    this.deps.onBatch?.(inserted, records.length - inserted);
  }
}
