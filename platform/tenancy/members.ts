import { AppError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Role } from '../../core/principal.js';
import type { Db } from './db-context.js';

export interface Member {
  readonly userId: string;
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  readonly joinedAt: Date;
}

interface MemberRow {
  user_id: string;
  email: string;
  name: string;
  role: Role;
  created_at: Date;
}

const toMember = (r: MemberRow): Member => ({ userId: r.user_id, email: r.email, name: r.name, role: r.role, joinedAt: r.created_at });

export async function listMembers(db: Db, orgId: string): Promise<Member[]> {
  const { rows } = await db.query<MemberRow>(
    `SELECT m.user_id, u.email, u.name, m.role, m.created_at
       FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE m.org_id = $1 ORDER BY m.created_at, m.user_id`,
    [orgId],
  );
  return rows.map(toMember);
}

export async function getMember(db: Db, orgId: string, userId: string): Promise<Member | null> {
  const { rows } = await db.query<MemberRow>(
    `SELECT m.user_id, u.email, u.name, m.role, m.created_at
       FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.user_id = $2`,
    [orgId, userId],
  );
  return rows[0] ? toMember(rows[0]) : null;
}

/**
 * Adds the user with `email` (created, with a personal organization, when there is none)
 * to the organization. The answer is the same whether or not the email had an account.
 */
export async function addMember(db: Db, orgId: string, input: { email: string; name: string; role: Role }): Promise<Member> {
  const { rows } = await db.query<{ id: string }>('SELECT ensure_user($1, $2, $3, $4) AS id', [newId('user'), newId('org'), input.email, input.name]);
  const userId = rows[0]!.id;
  const inserted = await db.query('INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
    orgId,
    userId,
    input.role,
  ]);
  if (inserted.rowCount === 0) throw new AppError('CONFLICT', 'that user is already a member of this organization');
  // Answer with what the caller sent, not the stored profile: the stored name would reveal
  // that the email already had an account (and that account's details).
  const added = (await getMember(db, orgId, userId))!;
  return { ...added, email: input.email, name: input.name };
}

export async function changeRole(db: Db, orgId: string, userId: string, role: Role): Promise<{ before: Member; after: Member }> {
  const before = await getMember(db, orgId, userId);
  if (!before) throw new AppError('NOT_FOUND', 'no such member');
  if (before.role === 'owner' && role !== 'owner') await assertAnotherOwner(db, orgId, userId);
  await db.query('UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2', [orgId, userId, role]);
  return { before, after: { ...before, role } };
}

/** Removes a member; their keys in this organization are revoked (returned, to revoke on every gateway). */
export async function removeMember(db: Db, orgId: string, userId: string): Promise<{ before: Member; removedKeys: Array<{ id: string; prefix: string }> }> {
  const before = await getMember(db, orgId, userId);
  if (!before) throw new AppError('NOT_FOUND', 'no such member');
  if (before.role === 'owner') await assertAnotherOwner(db, orgId, userId);
  const personal = await db.query('SELECT 1 FROM users WHERE id = $1 AND personal_org_id = $2', [userId, orgId]);
  if (personal.rowCount) throw new AppError('CONFLICT', "a user cannot leave their personal organization");
  const keys = await db.query<{ id: string; prefix: string }>(
    'UPDATE api_keys SET revoked_at = now() WHERE org_id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id, prefix',
    [orgId, userId],
  );
  await db.query('DELETE FROM memberships WHERE org_id = $1 AND user_id = $2', [orgId, userId]);
  return { before, removedKeys: keys.rows };
}

async function assertAnotherOwner(db: Db, orgId: string, userId: string): Promise<void> {
  const { rows } = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM memberships WHERE org_id = $1 AND role = 'owner' AND user_id <> $2",
    [orgId, userId],
  );
  if (rows[0]!.n === 0) throw new AppError('CONFLICT', 'an organization needs at least one owner; make someone else owner first');
}
