import type { FastifyBaseLogger } from 'fastify';
import type { UsageRecord } from '../../../core/usage.js';
import type { Pool } from '../../../platform/pg/pool.js';
import type { RedisLike } from '../../../platform/redis/commands.js';
import { withSystem } from '../../../platform/tenancy/db-context.js';
import { insertUsageRecords } from '../../../platform/usage/usage-store.js';
import { PerTurnBatches } from '../../../platform/redis/per-turn-batches.js';
import { appendUsage } from '../../../platform/usage/usage-stream.js';
import type { Metrics } from '../observability/metrics.js';

export interface UsageRecorderDeps {
  /** The admission connection: fails fast, so a Redis outage turns into the fallback at once. */
  readonly redis: RedisLike;
  readonly pool: Pool;
  readonly shards: number;
  readonly log: FastifyBaseLogger;
  readonly metrics: Metrics;
  /** How often the fallback buffer is written to Postgres. */
  readonly fallbackFlushMs?: number;
  /** Records the fallback buffer holds at most; beyond it new records are dropped (and counted). */
  readonly fallbackMax?: number;
}

/** More records than this ending in one turn go out as several entries. */
const MAX_ENTRY_RECORDS = 64;

/**
 * Records one usage record per ended call, durably, before the caller gets its result:
 * appended to the usage stream in Redis (workers move it into Postgres); the records of
 * the calls that end in one event-loop turn go out as one entry (one XADD). When Redis cannot
 * take it, the record goes to an in-process buffer written straight to Postgres every
 * second (idempotent inserts, retried until they succeed). Only a gateway crash while Redis
 * is down can lose buffered records; the buffer is flushed on shutdown.
 */
export class UsageRecorder {
  private buffer: UsageRecord[] = [];
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly appends: PerTurnBatches<'stream', UsageRecord, void>;

  constructor(private readonly deps: UsageRecorderDeps) {
    this.appends = new PerTurnBatches<'stream', UsageRecord, void>(async (_, records) => {
      await appendUsage(deps.redis, deps.shards, records);
      return records.map(() => undefined);
    }, MAX_ENTRY_RECORDS);
    this.timer = setInterval(() => void this.flush(), deps.fallbackFlushMs ?? 1_000);
    this.timer.unref();
  }

  async record(record: UsageRecord): Promise<void> {
    try {
      await this.appends.add('stream', record);
      this.deps.metrics.usageRecords.inc({ path: 'stream' });
    } catch (err) {
      if (this.buffer.length >= (this.deps.fallbackMax ?? 100_000)) {
        this.deps.metrics.usageRecords.inc({ path: 'dropped' });
        this.deps.log.error({ err, callId: record.callId, orgId: record.orgId }, 'usage record dropped: stream unavailable and fallback buffer full');
        return;
      }
      this.buffer.push(record);
      this.deps.metrics.usageRecords.inc({ path: 'fallback' });
      this.deps.log.warn({ err, callId: record.callId, buffered: this.buffer.length }, 'usage stream unavailable; record buffered for Postgres');
    }
  }

  /** Writes the fallback buffer to Postgres; on failure the records stay for the next try. */
  flush(): Promise<void> {
    this.flushing ??= this.writeBuffer().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Flushes what is buffered (shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (this.buffer.length > 0) await this.flush();
    if (this.buffer.length > 0) this.deps.log.error({ records: this.buffer.length }, 'usage records not written at shutdown');
  }

  get buffered(): number {
    return this.buffer.length;
  }

  private async writeBuffer(): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer.slice(0, 1_000);
    try {
      await withSystem(this.deps.pool, (db) => insertUsageRecords(db, batch));
      this.buffer.splice(0, batch.length);
    } catch (err) {
      this.deps.log.warn({ err, buffered: this.buffer.length }, 'usage fallback flush failed; will retry');
    }
  }
}
