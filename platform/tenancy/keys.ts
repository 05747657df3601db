import { AppError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Db } from './db-context.js';
import { generateApiKey } from './api-keys.js';

export type KeyStatus = 'active' | 'revoked' | 'expired';

/** An API key as lists show it: never the secret, never its hash. */
export interface KeyRecord {
  readonly id: string;
  readonly orgId: string;
  readonly userId: string;
  readonly name: string;
  readonly prefix: string;
  readonly scopes: string[];
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly rotatedFrom: string | null;
  readonly status: KeyStatus;
}

const COLUMNS = 'id, org_id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at, rotated_from';

interface KeyRow {
  id: string;
  org_id: string;
  user_id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  rotated_from: string | null;
}

function toRecord(r: KeyRow, now = Date.now()): KeyRecord {
  const status: KeyStatus = r.revoked_at ? 'revoked' : r.expires_at && r.expires_at.getTime() <= now ? 'expired' : 'active';
  return {
    id: r.id,
    orgId: r.org_id,
    userId: r.user_id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
    rotatedFrom: r.rotated_from,
    status,
  };
}

/** Keys of the organization, optionally of one user, newest first. */
export async function listKeys(db: Db, orgId: string, filter: { userId?: string } = {}): Promise<KeyRecord[]> {
  const { rows } = await db.query<KeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE org_id = $1 AND ($2::text IS NULL OR user_id = $2) ORDER BY created_at DESC, id`,
    [orgId, filter.userId ?? null],
  );
  return rows.map((r) => toRecord(r));
}

export async function getKey(db: Db, orgId: string, keyId: string): Promise<KeyRecord | null> {
  const { rows } = await db.query<KeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE org_id = $1 AND id = $2`, [orgId, keyId]);
  return rows[0] ? toRecord(rows[0]) : null;
}

export interface NewKey {
  readonly key: KeyRecord;
  /** The full key, `tg_<prefix>_<secret>`: returned once, never stored. */
  readonly secret: string;
}

export async function createKey(
  db: Db,
  input: { orgId: string; userId: string; name: string; scopes: string[]; expiresAt: Date | null; rotatedFrom?: string },
): Promise<NewKey> {
  const generated = generateApiKey();
  const { rows } = await db.query<KeyRow>(
    `INSERT INTO api_keys (id, org_id, user_id, name, prefix, secret_hash, scopes, expires_at, rotated_from)
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
      WHERE EXISTS (SELECT 1 FROM memberships WHERE org_id = $2 AND user_id = $3)
     RETURNING ${COLUMNS}`,
    [newId('key'), input.orgId, input.userId, input.name, generated.prefix, generated.secretHash, input.scopes, input.expiresAt, input.rotatedFrom ?? null],
  );
  if (!rows[0]) throw new AppError('NOT_FOUND', 'no such member in this organization');
  return { key: toRecord(rows[0]), secret: generated.raw };
}

/** Revokes a key at once. Revoking a revoked key is a conflict, not a silent success. */
export async function revokeKey(db: Db, orgId: string, keyId: string): Promise<{ before: KeyRecord; after: KeyRecord }> {
  const before = await getKey(db, orgId, keyId);
  if (!before) throw new AppError('NOT_FOUND', 'no such key');
  if (before.revokedAt) throw new AppError('CONFLICT', 'the key is already revoked');
  const { rows } = await db.query<KeyRow>(`UPDATE api_keys SET revoked_at = now() WHERE org_id = $1 AND id = $2 RETURNING ${COLUMNS}`, [orgId, keyId]);
  return { before, after: toRecord(rows[0]!) };
}

/**
 * Issues a successor with the same holder, name and scopes, and lets the old key expire
 * after `overlapSeconds` (0 ends it now), so clients can switch without downtime.
 */
export async function rotateKey(
  db: Db,
  orgId: string,
  keyId: string,
  overlapSeconds: number,
): Promise<{ next: NewKey; previous: { before: KeyRecord; after: KeyRecord } }> {
  const before = await getKey(db, orgId, keyId);
  if (!before) throw new AppError('NOT_FOUND', 'no such key');
  if (before.status !== 'active') throw new AppError('CONFLICT', `the key is ${before.status}; only active keys can be rotated`);
  const next = await createKey(db, {
    orgId,
    userId: before.userId,
    name: before.name,
    scopes: before.scopes,
    expiresAt: before.expiresAt,
    rotatedFrom: before.id,
  });
  const { rows } = await db.query<KeyRow>(
    `UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $3))
      WHERE org_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [orgId, keyId, overlapSeconds],
  );
  return { next, previous: { before, after: toRecord(rows[0]!) } };
}
