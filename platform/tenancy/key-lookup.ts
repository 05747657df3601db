import type { Pool } from '../pg/pool.js';
import type { Role } from '../../core/principal.js';

/** What authentication needs to know about a key, as stored. */
export interface StoredKey {
  readonly keyId: string;
  readonly orgId: string;
  readonly userId: string;
  readonly prefix: string;
  readonly secretHash: Buffer;
  readonly scopes: readonly string[];
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
  readonly role: Role;
  readonly planId: string;
  readonly periodStart: Date;
  readonly periodEnd: Date;
}

/**
 * Finds a key by its public prefix, with the holder's role and the organization's plan.
 * Runs before any tenant is known, so it goes through the `auth_api_key` function.
 */
export async function findKeyByPrefix(pool: Pool, prefix: string): Promise<StoredKey | null> {
  const { rows } = await pool.query<{
    id: string;
    org_id: string;
    user_id: string;
    prefix: string;
    secret_hash: Buffer;
    scopes: string[];
    expires_at: Date | null;
    revoked_at: Date | null;
    role: Role;
    plan_id: string;
    period_start: Date;
    period_end: Date;
  }>('SELECT key_id AS id, org_id, user_id, prefix, secret_hash, scopes, expires_at, revoked_at, role, plan_id, period_start, period_end FROM auth_api_key($1)', [
    prefix,
  ]);
  const r = rows[0];
  if (!r) return null;
  return {
    keyId: r.id,
    orgId: r.org_id,
    userId: r.user_id,
    prefix: r.prefix,
    secretHash: r.secret_hash,
    scopes: r.scopes,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    role: r.role,
    planId: r.plan_id,
    periodStart: r.period_start,
    periodEnd: r.period_end,
  };
}
