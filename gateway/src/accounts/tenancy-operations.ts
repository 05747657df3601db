import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../../core/errors.js';
import type { Plan } from '../../../core/plans.js';
import type { Actor, Role } from '../../../core/principal.js';
import type { Pool } from '../../../platform/pg/pool.js';
import type { Redis } from '../../../platform/redis/client.js';
import { listAudit, recordAudit, type AuditEntry, type AuditRecord } from '../../../platform/tenancy/audit.js';
import { withStaff, withTenant, type Db } from '../../../platform/tenancy/db-context.js';
import { publishTenancyEvent, type TenancyEvent } from '../../../platform/tenancy/events.js';
import { createKey, getKey, listKeys, revokeKey, rotateKey, type KeyRecord, type NewKey } from '../../../platform/tenancy/keys.js';
import { addMember, changeRole, getMember, listMembers, removeMember, type Member } from '../../../platform/tenancy/members.js';
import {
  createOrganization,
  getOrganization,
  listOrganizations,
  renameOrganization,
  type Organization,
} from '../../../platform/tenancy/organizations.js';
import { createPlan, loadPlans, updatePlan, type PlanPatch } from '../../../platform/tenancy/plans-repo.js';
import { usageReport } from '../../../platform/usage/usage-store.js';
import { ensureUser, findUserByEmail, getUser, type User, type UserWithMemberships } from '../../../platform/tenancy/users.js';

/** Who asks, and under which request id (both land in the audit log). */
export interface OpContext {
  readonly actor: Actor;
  readonly requestId: string;
}

/**
 * Every read and change of tenant data the account and admin APIs offer. Each runs in a
 * transaction scoped by row-level security (one organization, or staff-wide), each change
 * appends its audit entry in the same transaction, and after commit the gateways are told
 * what to forget. Authorization (who may call what) is the routes' job.
 */
export class TenancyOperations {
  constructor(
    private readonly pool: Pool,
    private readonly redis: Redis,
    private readonly log: FastifyBaseLogger,
    /** Applies a change to this gateway's own caches before the caller gets its answer. */
    private readonly applyLocally: (event: TenancyEvent) => void = () => {},
  ) {}

  // Reads within one organization.
  getOrganization = (orgId: string) => this.tenant(orgId, (db) => getOrganization(db, orgId));
  listMembers = (orgId: string) => this.tenant(orgId, (db) => listMembers(db, orgId));
  getMember = (orgId: string, userId: string) => this.tenant(orgId, (db) => getMember(db, orgId, userId));
  listKeys = (orgId: string, filter: { userId?: string } = {}) => this.tenant(orgId, (db) => listKeys(db, orgId, filter));
  getKey = (orgId: string, keyId: string) => this.tenant(orgId, (db) => getKey(db, orgId, keyId));
  listAudit = (orgId: string, opts: { limit: number; beforeId?: string }) => this.tenant(orgId, (db) => listAudit(db, { ...opts, orgId }));
  usage = (orgId: string, range: { from: string; to: string; userId?: string }) => this.tenant(orgId, (db) => usageReport(db, range));

  // Changes within one organization.
  async renameOrganization(ctx: OpContext, orgId: string, name: string): Promise<Organization> {
    const { after } = await this.change(orgId, ctx, (db) => renameOrganization(db, orgId, name), 'organization.rename', 'organization', () => orgId);
    return after;
  }

  async addMember(ctx: OpContext, orgId: string, input: { email: string; name: string; role: Role }): Promise<Member> {
    const member = await this.tenant(orgId, async (db) => {
      const m = await addMember(db, orgId, input);
      await this.audit(db, ctx, { orgId, action: 'member.add', targetType: 'user', targetId: m.userId, after: m });
      return m;
    });
    return member;
  }

  async changeRole(ctx: OpContext, orgId: string, userId: string, role: Role): Promise<Member> {
    const { after } = await this.change(orgId, ctx, (db) => changeRole(db, orgId, userId, role), 'member.change_role', 'user', () => userId);
    await this.publish({ type: 'org-changed', orgId });
    return after;
  }

  async removeMember(ctx: OpContext, orgId: string, userId: string): Promise<void> {
    const { removedKeys } = await this.tenant(orgId, async (db) => {
      const r = await removeMember(db, orgId, userId);
      await this.audit(db, ctx, { orgId, action: 'member.remove', targetType: 'user', targetId: userId, before: r.before, after: { revokedKeys: r.removedKeys } });
      return r;
    });
    for (const k of removedKeys) await this.publish({ type: 'key-revoked', keyId: k.id, prefix: k.prefix });
  }

  async createKey(ctx: OpContext, orgId: string, input: { userId: string; name: string; scopes: string[]; expiresAt: Date | null }): Promise<NewKey> {
    return this.tenant(orgId, async (db) => {
      const created = await createKey(db, { orgId, ...input });
      await this.audit(db, ctx, { orgId, action: 'key.create', targetType: 'api_key', targetId: created.key.id, after: created.key });
      return created;
    });
  }

  async revokeKey(ctx: OpContext, orgId: string, keyId: string): Promise<KeyRecord> {
    const { after } = await this.change(orgId, ctx, (db) => revokeKey(db, orgId, keyId), 'key.revoke', 'api_key', () => keyId);
    await this.publish({ type: 'key-revoked', keyId, prefix: after.prefix });
    return after;
  }

  async rotateKey(ctx: OpContext, orgId: string, keyId: string, overlapSeconds: number): Promise<{ next: NewKey; previous: KeyRecord }> {
    const r = await this.tenant(orgId, async (db) => {
      const rotated = await rotateKey(db, orgId, keyId, overlapSeconds);
      await this.audit(db, ctx, {
        orgId,
        action: 'key.rotate',
        targetType: 'api_key',
        targetId: keyId,
        before: rotated.previous.before,
        after: { previous: rotated.previous.after, next: rotated.next.key },
      });
      return rotated;
    });
    await this.publish({ type: 'key-changed', keyId, prefix: r.previous.after.prefix });
    return { next: r.next, previous: r.previous.after };
  }

  // Staff-wide operations (admin API only).
  listOrganizations = (opts: { limit: number; after?: string; search?: string }) => withStaff(this.pool, (db) => listOrganizations(db, opts));
  listPlans = () => withStaff(this.pool, (db) => loadPlans(db));
  getUser = (userId: string) => withStaff(this.pool, (db) => getUser(db, userId));
  findUserByEmail = (email: string) => withStaff(this.pool, (db) => findUserByEmail(db, email));
  listPlatformAudit = (opts: { limit: number; beforeId?: string; orgId?: string }) => withStaff(this.pool, (db) => listAudit(db, opts));

  async createUser(ctx: OpContext, input: { email: string; name: string }): Promise<{ user: UserWithMemberships; created: boolean }> {
    return withStaff(this.pool, async (db) => {
      const { user, created } = await ensureUser(db, input);
      if (created) await this.audit(db, ctx, { orgId: user.personalOrgId, action: 'user.create', targetType: 'user', targetId: user.id, after: user });
      return { user: (await getUser(db, user.id))!, created };
    });
  }

  async createOrganization(ctx: OpContext, input: { name: string; planId: string; owner: { email: string; name: string } }): Promise<Organization> {
    return withStaff(this.pool, async (db) => {
      const { user } = await ensureUser(db, input.owner);
      const org = await createOrganization(db, { name: input.name, planId: input.planId, ownerUserId: user.id });
      await this.audit(db, ctx, { orgId: org.id, action: 'organization.create', targetType: 'organization', targetId: org.id, after: { ...org, ownerUserId: user.id } });
      return org;
    });
  }

  async createPlan(ctx: OpContext, plan: Plan): Promise<Plan> {
    const created = await withStaff(this.pool, async (db) => {
      const p = await createPlan(db, plan);
      await this.audit(db, ctx, { orgId: null, action: 'plan.create', targetType: 'plan', targetId: p.id, after: p });
      return p;
    });
    await this.publish({ type: 'plans-changed' });
    return created;
  }

  async updatePlan(ctx: OpContext, planId: string, patch: PlanPatch): Promise<Plan> {
    const { after } = await withStaff(this.pool, async (db) => {
      const r = await updatePlan(db, planId, patch);
      await this.audit(db, ctx, { orgId: null, action: 'plan.update', targetType: 'plan', targetId: planId, before: r.before, after: r.after });
      return r;
    });
    await this.publish({ type: 'plans-changed' });
    return after;
  }

  private tenant<T>(orgId: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return withTenant(this.pool, orgId, fn);
  }

  /** A before/after change in one organization, audited in the same transaction. */
  private change<T>(
    orgId: string,
    ctx: OpContext,
    fn: (db: Db) => Promise<{ before: T; after: T }>,
    action: string,
    targetType: string,
    targetId: () => string,
  ): Promise<{ before: T; after: T }> {
    return this.tenant(orgId, async (db) => {
      const r = await fn(db);
      await this.audit(db, ctx, { orgId, action, targetType, targetId: targetId(), before: r.before, after: r.after });
      return r;
    });
  }

  private audit(db: Db, ctx: OpContext, e: Omit<AuditEntry, 'actor' | 'requestId'>): Promise<void> {
    return recordAudit(db, { ...e, actor: ctx.actor, requestId: ctx.requestId });
  }

  /**
   * Applies the change here at once (a revoked key fails on this gateway before the revoke
   * call returns), then tells every gateway; a lost event is bounded by the key cache TTL,
   * so it is logged, not fatal.
   */
  private async publish(event: TenancyEvent): Promise<void> {
    this.applyLocally(event);
    await publishTenancyEvent(this.redis, event).catch((err: unknown) => this.log.warn({ err, event: event.type }, 'tenancy event not published'));
  }
}

export type { AuditRecord, KeyRecord, Member, NewKey, Organization, User, UserWithMemberships };

/** Converts "not found in this tenant" into the one answer that reveals nothing. */
export function notFound(what: string): AppError {
  return new AppError('NOT_FOUND', `no such ${what}`);
}
