import { newId } from '../../core/ids.js';
import type { Role } from '../../core/principal.js';
import type { Db } from './db-context.js';

export interface User {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly personalOrgId: string;
  readonly createdAt: Date;
}

export interface UserWithMemberships extends User {
  readonly memberships: Array<{ orgId: string; orgName: string; role: Role }>;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  personal_org_id: string;
  created_at: Date;
}

const toUser = (r: UserRow): User => ({ id: r.id, email: r.email, name: r.name, personalOrgId: r.personal_org_id, createdAt: r.created_at });

/** The user with this email, creating it (and its personal organization) if needed. */
export async function ensureUser(db: Db, input: { email: string; name: string }): Promise<{ user: User; created: boolean }> {
  const newUserId = newId('user');
  const { rows } = await db.query<{ id: string }>('SELECT ensure_user($1, $2, $3, $4) AS id', [newUserId, newId('org'), input.email, input.name]);
  const id = rows[0]!.id;
  return { user: (await getUser(db, id))!, created: id === newUserId };
}

/** Staff context (or a shared organization) needed to see the user. */
export async function getUser(db: Db, userId: string): Promise<UserWithMemberships | null> {
  const { rows } = await db.query<UserRow>('SELECT id, email, name, personal_org_id, created_at FROM users WHERE id = $1', [userId]);
  if (!rows[0]) return null;
  const memberships = await db.query<{ org_id: string; name: string; role: Role }>(
    'SELECT m.org_id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY m.created_at',
    [userId],
  );
  return { ...toUser(rows[0]), memberships: memberships.rows.map((m) => ({ orgId: m.org_id, orgName: m.name, role: m.role })) };
}

export async function findUserByEmail(db: Db, email: string): Promise<User | null> {
  const { rows } = await db.query<UserRow>('SELECT id, email, name, personal_org_id, created_at FROM users WHERE lower(email) = lower($1)', [email]);
  return rows[0] ? toUser(rows[0]) : null;
}
