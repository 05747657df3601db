import { newId } from '../../core/ids.js';
import type { Pool } from '../pg/pool.js';
import { withTransaction } from '../pg/pool.js';
import { randomBase58 } from '../../core/ids.js';
import { hashSecret, KEY_PREFIX_LENGTH, SECRET_LENGTH } from './api-keys.js';

/**
 * Staff tokens: `tgs_<prefix>_<secret>`, the admin API's credentials. Created by the
 * admin CLI (`npm run admin -- staff create`), which talks to the database as the owner:
 * creating the first staff member cannot require a staff member.
 */
const TOKEN_PATTERN = /^tgs_([1-9A-HJ-NP-Za-km-z]{12})_([1-9A-HJ-NP-Za-km-z]{32})$/;

export function parseStaffToken(raw: string): { prefix: string; secret: string } | null {
  const m = TOKEN_PATTERN.exec(raw);
  return m ? { prefix: m[1]!, secret: m[2]! } : null;
}

export interface CreatedStaff {
  readonly staffId: string;
  readonly tokenId: string;
  /** Shown once; only its hash is stored. */
  readonly token: string;
}

/** Creates (or reuses, by email) a staff member and issues a new token. Owner connection. */
export async function createStaffWithToken(ownerPool: Pool, input: { email: string; name: string; tokenName: string; expiresAt?: Date | null }): Promise<CreatedStaff> {
  return withTransaction(ownerPool, async (db) => {
    const existing = await db.query<{ id: string }>('SELECT id FROM staff WHERE lower(email) = lower($1)', [input.email]);
    const staffId = existing.rows[0]?.id ?? newId('staff');
    if (!existing.rows[0]) await db.query('INSERT INTO staff (id, email, name) VALUES ($1, $2, $3)', [staffId, input.email, input.name]);
    const prefix = randomBase58(KEY_PREFIX_LENGTH);
    const secret = randomBase58(SECRET_LENGTH);
    const tokenId = newId('staffToken');
    await db.query('INSERT INTO staff_tokens (id, staff_id, name, prefix, secret_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      tokenId,
      staffId,
      input.tokenName,
      prefix,
      hashSecret(secret),
      input.expiresAt ?? null,
    ]);
    await db.query(
      `INSERT INTO audit_log (org_id, actor_type, actor_id, action, target_type, target_id, after)
       VALUES (NULL, 'system', 'admin-cli', 'staff_token.create', 'staff_token', $1, $2)`,
      [tokenId, JSON.stringify({ staffId, email: input.email, prefix })],
    );
    return { staffId, tokenId, token: `tgs_${prefix}_${secret}` };
  });
}

export interface StoredStaffToken {
  readonly tokenId: string;
  readonly staffId: string;
  readonly email: string;
  readonly secretHash: Buffer;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
  readonly disabledAt: Date | null;
}

export async function findStaffToken(pool: Pool, prefix: string): Promise<StoredStaffToken | null> {
  const { rows } = await pool.query<{
    token_id: string;
    staff_id: string;
    email: string;
    secret_hash: Buffer;
    expires_at: Date | null;
    revoked_at: Date | null;
    disabled_at: Date | null;
  }>('SELECT * FROM auth_staff_token($1)', [prefix]);
  const r = rows[0];
  return r
    ? { tokenId: r.token_id, staffId: r.staff_id, email: r.email, secretHash: r.secret_hash, expiresAt: r.expires_at, revokedAt: r.revoked_at, disabledAt: r.disabled_at }
    : null;
}
