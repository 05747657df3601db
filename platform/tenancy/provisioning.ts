import { newId, type OrgId, type UserId } from '../../core/ids.js';
import type { Role } from '../../core/principal.js';
import { withTransaction, type Pool, type PoolClient } from '../pg/pool.js';
import { generateApiKey } from './api-keys.js';

/**
 * Creating tenants and keys. Every user gets a personal organization in the same
 * transaction, so "a user without an organization" never exists.
 */
export interface CreatedUser {
  readonly userId: UserId;
  readonly personalOrgId: OrgId;
}

export async function createUser(
  db: PoolClient,
  input: { email: string; name: string; plan?: string },
): Promise<CreatedUser> {
  const userId = newId('user');
  const personalOrgId = newId('org');
  await db.query('INSERT INTO organizations (id, name, personal) VALUES ($1, $2, true)', [personalOrgId, `${input.name} (personal)`]);
  await db.query('INSERT INTO users (id, email, name, personal_org_id) VALUES ($1, $2, $3, $4)', [
    userId,
    input.email,
    input.name,
    personalOrgId,
  ]);
  await db.query(`INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, 'owner')`, [personalOrgId, userId]);
  await db.query('INSERT INTO subscriptions (org_id, plan_id) VALUES ($1, $2)', [personalOrgId, input.plan ?? 'free']);
  return { userId, personalOrgId };
}

export async function createOrganization(db: PoolClient, input: { name: string; plan: string; ownerId: UserId }): Promise<OrgId> {
  const orgId = newId('org');
  await db.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', [orgId, input.name]);
  await db.query(`INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, 'owner')`, [orgId, input.ownerId]);
  await db.query('INSERT INTO subscriptions (org_id, plan_id) VALUES ($1, $2)', [orgId, input.plan]);
  return orgId;
}

export async function addMember(db: PoolClient, orgId: OrgId, userId: UserId, role: Role): Promise<void> {
  await db.query('INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3)', [orgId, userId, role]);
}

export interface CreatedKey {
  readonly keyId: string;
  readonly prefix: string;
  /** Shown once; never stored. */
  readonly raw: string;
}

export async function createApiKey(
  db: PoolClient,
  input: { orgId: OrgId; userId: UserId; name: string; scopes?: string[]; expiresAt?: Date | null },
): Promise<CreatedKey> {
  const key = generateApiKey();
  const keyId = newId('key');
  await db.query(
    `INSERT INTO api_keys (id, org_id, user_id, name, prefix, secret_hash, scopes, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [keyId, input.orgId, input.userId, input.name, key.prefix, key.secretHash, input.scopes ?? ['mcp'], input.expiresAt ?? null],
  );
  return { keyId, prefix: key.prefix, raw: key.raw };
}

/** One transaction around several provisioning steps. */
export function provision<T>(pool: Pool, fn: (db: PoolClient) => Promise<T>): Promise<T> {
  return withTransaction(pool, fn);
}
