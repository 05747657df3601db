import { UsageRecord } from '../../core/usage.js';
import { redisKeys } from '../../core/redis-keys.js';
import type { RedisLike } from '../redis/commands.js';

/**
 * The usage stream: gateways append the records of ended calls (durably, before the callers
 * get their results; the calls that end in one event-loop turn share an entry); workers
 * read entries in batches through a consumer group, insert their records into Postgres
 * idempotently, then acknowledge and delete them. An entry read but not
 * acknowledged (a worker crashed) is claimed again by another worker after `minIdleMs`:
 * delivery is at least once, the insert makes it exactly once.
 */
export const USAGE_GROUP = 'ingest';

/** The shard a call's record goes to: stable per call id, spread evenly. */
export function usageShard(callId: string, shards: number): number {
  let h = 0;
  for (let i = 0; i < callId.length; i++) h = (h * 31 + callId.charCodeAt(i)) | 0;
  return Math.abs(h) % shards;
}

/**
 * Appends records as one entry (one XADD, a field `r` per record): the records of the calls
 * that end together cost one command. The entry goes to the first record's shard; any shard
 * would do, since a record counts once wherever it lands (the insert is keyed by call id).
 */
export async function appendUsage(redis: RedisLike, shards: number, records: readonly UsageRecord[]): Promise<void> {
  const fields: string[] = [];
  for (const record of records) fields.push('r', JSON.stringify(record));
  await redis.xadd(redisKeys.usageStream(usageShard(records[0]!.callId, shards)), '*', ...fields);
}

export interface StreamEntry {
  readonly id: string;
  /** The entry's valid records (one per call; an entry holds the calls that ended together). */
  readonly records: UsageRecord[];
  /** What the entry holds that is not a valid record (dropped and logged by the reader). */
  readonly invalid: string[];
}

/** Creates the consumer group of a shard (and the stream) if missing; idempotent. */
export async function ensureUsageGroup(redis: RedisLike, shard: number): Promise<void> {
  try {
    await redis.xgroup('CREATE', redisKeys.usageStream(shard), USAGE_GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}

/** New entries of a shard for `consumer`, waiting up to `blockMs` when there are none. */
export async function readUsage(redis: RedisLike, shard: number, consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
  const reply = (await redis.xreadgroup('GROUP', USAGE_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', redisKeys.usageStream(shard), '>')) as
    | Array<[string, Array<[string, string[]]>]>
    | null;
  return reply ? toEntries(reply[0]?.[1] ?? []) : [];
}

/** Entries another consumer read but did not acknowledge within `minIdleMs`, now owned by `consumer`. */
export async function claimStaleUsage(redis: RedisLike, shard: number, consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
  const reply = (await redis.xautoclaim(redisKeys.usageStream(shard), USAGE_GROUP, consumer, minIdleMs, '0-0', 'COUNT', count)) as [string, Array<[string, string[]] | null>, string[]?];
  return toEntries(reply[1].filter((e): e is [string, string[]] => e !== null));
}

/** Acknowledges and deletes entries whose records are stored. */
export async function ackUsage(redis: RedisLike, shard: number, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const key = redisKeys.usageStream(shard);
  await redis.multi().xack(key, USAGE_GROUP, ...ids).xdel(key, ...ids).exec();
}

/** Entries waiting in a shard: not yet read, plus read and not acknowledged. */
export async function usageBacklog(redis: RedisLike, shard: number): Promise<number> {
  return redis.xlen(redisKeys.usageStream(shard));
}

function toEntries(raw: Array<[string, string[]]>): StreamEntry[] {
  return raw.map(([id, fields]) => {
    const records: UsageRecord[] = [];
    const invalid: string[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      const [name, value = ''] = [fields[i], fields[i + 1]];
      const record = name === 'r' ? parseRecord(value) : undefined;
      if (record) records.push(record);
      else invalid.push(name === 'r' ? value : `${name}=${value}`);
    }
    return { id, records, invalid };
  });
}

function parseRecord(json: string): UsageRecord | undefined {
  try {
    const parsed = UsageRecord.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
