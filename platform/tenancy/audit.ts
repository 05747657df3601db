import type { Actor } from '../../core/principal.js';
import type { Db } from './db-context.js';

export interface AuditEntry {
  /** The organization the change concerns; null for platform-wide changes (plans, staff). */
  readonly orgId: string | null;
  readonly actor: Actor;
  /** `noun.verb`, e.g. `key.revoke`, `member.add`, `plan.update`. */
  readonly action: string;
  readonly targetType: string;
  readonly targetId?: string | null;
  readonly before?: unknown;
  readonly after?: unknown;
  readonly requestId?: string;
}

export interface AuditRecord extends AuditEntry {
  readonly id: string;
  readonly createdAt: Date;
}

/** Appends one entry, in the caller's transaction (so it commits with the change or not at all). */
export async function recordAudit(db: Db, e: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (org_id, actor_type, actor_id, action, target_type, target_id, before, after, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [e.orgId, e.actor.type, e.actor.id, e.action, e.targetType, e.targetId ?? null, json(e.before), json(e.after), e.requestId ?? null],
  );
}

/** Newest first; `orgId` undefined lists everything the transaction may see. */
export async function listAudit(db: Db, opts: { orgId?: string; limit: number; beforeId?: string }): Promise<AuditRecord[]> {
  const { rows } = await db.query<{
    id: string;
    org_id: string | null;
    actor_type: Actor['type'];
    actor_id: string;
    action: string;
    target_type: string;
    target_id: string | null;
    before: unknown;
    after: unknown;
    request_id: string | null;
    created_at: Date;
  }>(
    `SELECT id::text, org_id, actor_type, actor_id, action, target_type, target_id, before, after, request_id, created_at
       FROM audit_log
      WHERE ($1::text IS NULL OR org_id = $1) AND ($2::bigint IS NULL OR audit_log.id < $2)
      ORDER BY audit_log.id DESC LIMIT $3`,
    [opts.orgId ?? null, opts.beforeId ?? null, opts.limit],
  );
  return rows.map((r) => ({
    id: r.id,
    orgId: r.org_id,
    actor: { type: r.actor_type, id: r.actor_id },
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    before: r.before,
    after: r.after,
    ...(r.request_id ? { requestId: r.request_id } : {}),
    createdAt: r.created_at,
  }));
}

function json(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}
