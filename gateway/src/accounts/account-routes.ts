import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../../core/errors.js';
import type { Principal } from '../../../core/principal.js';
import { can, type AccountOperation } from '../../../core/rbac.js';
import { credentialFromHeaders } from '../auth/credentials.js';
import type { KeyAuthenticator } from '../auth/key-authenticator.js';
import {
  AddMemberBody,
  AuditOut,
  AuditQuery,
  auditOut,
  ChangeRoleBody,
  CreateKeyBody,
  idOf,
  KeyOut,
  keyOut,
  MemberOut,
  memberOut,
  NewKeyOut,
  OrgOut,
  orgOut,
  RenameOrgBody,
  RotateKeyBody,
  RotatedKeyOut,
  UsageOut,
  UsageQuery,
} from './schemas.js';
import { notFound, type OpContext, type TenancyOperations } from './tenancy-operations.js';

export interface AccountRouteDeps {
  readonly authenticator: KeyAuthenticator;
  readonly ops: TenancyOperations;
  readonly planName: (planId: string) => string;
  readonly ipLimiter?: { check(ip: string): void };
}

const UserIdParams = z.object({ userId: idOf('user', 'user') }).strict();
const KeyIdParams = z.object({ keyId: idOf('key', 'key') }).strict();

/**
 * The customer account API (`/v1`, public port), authenticated by an API key with the
 * `account` scope. Everything happens inside the key's organization: other
 * organizations' ids answer 404 exactly like ids that do not exist. Roles decide the rest
 * (core/rbac.ts); refusals are 403 FORBIDDEN.
 */
export async function accountRoutes(root: FastifyInstance, deps: AccountRouteDeps): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const { ops } = deps;

  app.addHook('onRequest', async (request, reply) => {
    deps.ipLimiter?.check(request.ip);
    const credential = credentialFromHeaders(request.headers);
    if (!credential) throw new AppError('UNAUTHENTICATED', 'an API key is required: send "Authorization: Bearer <key>"');
    const principal = await deps.authenticator.authenticate(credential.key);
    if (!principal.scopes.includes('account')) throw new AppError('FORBIDDEN', 'this API key does not have the "account" scope', { scope: 'account' });
    request.principal = principal;
    request.log = reply.log = request.log.child({ orgId: principal.orgId, userId: principal.userId, key: principal.keyPrefix });
  });

  const tags = ['account'];
  const security = [{ apiKey: [] }];

  app.get('/v1/me', { schema: { tags, security, summary: 'Who this key belongs to', response: { 200: MeOut } } }, async (request) => {
    const p = principalOf(request);
    return { userId: p.userId, orgId: p.orgId, role: p.role, plan: { id: p.plan.id, name: p.plan.name }, key: { id: p.keyId, prefix: p.keyPrefix, scopes: [...p.scopes] } };
  });

  app.get('/v1/org', { schema: { tags, security, summary: 'The organization, its plan and subscription', response: { 200: OrgOut } } }, async (request) => {
    const p = authorize(request, 'org.read');
    const org = await ops.getOrganization(p.orgId);
    if (!org) throw notFound('organization');
    return orgOut(org, deps.planName);
  });

  app.patch('/v1/org', { schema: { tags, security, summary: 'Rename the organization (owners)', body: RenameOrgBody, response: { 200: OrgOut } } }, async (request) => {
    const p = authorize(request, 'org.manage');
    return orgOut(await ops.renameOrganization(ctx(request), p.orgId, request.body.name), deps.planName);
  });

  app.get('/v1/org/members', { schema: { tags, security, summary: 'Members and their roles', response: { 200: z.object({ members: z.array(MemberOut) }) } } }, async (request) => {
    const p = authorize(request, 'members.read');
    return { members: (await ops.listMembers(p.orgId)).map(memberOut) };
  });

  app.post(
    '/v1/org/members',
    { schema: { tags, security, summary: 'Add a member by email (owners and admins)', body: AddMemberBody, response: { 201: MemberOut } } },
    async (request, reply) => {
      const p = authorize(request, request.body.role === 'owner' ? 'members.manage_owners' : 'members.manage');
      const { email, role } = request.body;
      const member = await ops.addMember(ctx(request), p.orgId, { email, role, name: request.body.name ?? email.split('@')[0]! });
      return reply.code(201).send(memberOut(member));
    },
  );

  app.patch(
    '/v1/org/members/:userId',
    { schema: { tags, security, summary: "Change a member's role", params: UserIdParams, body: ChangeRoleBody, response: { 200: MemberOut } } },
    async (request) => {
      const p = principalOf(request);
      const target = await ops.getMember(p.orgId, request.params.userId);
      if (!target) throw notFound('member');
      authorize(request, target.role === 'owner' || request.body.role === 'owner' ? 'members.manage_owners' : 'members.manage');
      return memberOut(await ops.changeRole(ctx(request), p.orgId, target.userId, request.body.role));
    },
  );

  app.delete(
    '/v1/org/members/:userId',
    { schema: { tags, security, summary: 'Remove a member (their keys are revoked)', params: UserIdParams, response: { 204: z.null() } } },
    async (request, reply) => {
      const p = principalOf(request);
      const target = await ops.getMember(p.orgId, request.params.userId);
      if (!target) throw notFound('member');
      authorize(request, target.role === 'owner' ? 'members.manage_owners' : 'members.manage');
      await ops.removeMember(ctx(request), p.orgId, target.userId);
      return reply.code(204).send(null);
    },
  );

  app.get('/v1/keys', { schema: { tags, security, summary: 'API keys (all for owners and admins, your own otherwise)', response: { 200: z.object({ keys: z.array(KeyOut) }) } } }, async (request) => {
    const p = principalOf(request);
    const keys = await ops.listKeys(p.orgId, can(p.role, 'keys.read_all') ? {} : { userId: p.userId });
    return { keys: keys.map(keyOut) };
  });

  app.post('/v1/keys', { schema: { tags, security, summary: 'Create a key (the secret is shown once)', body: CreateKeyBody, response: { 201: NewKeyOut } } }, async (request, reply) => {
    const p = principalOf(request);
    const userId = request.body.userId ?? p.userId;
    if (userId !== p.userId) {
      authorize(request, 'keys.manage_all');
      const holder = await ops.getMember(p.orgId, userId);
      if (!holder) throw notFound('member');
      authorizeOnBehalfOf(request, holder.role);
    } else {
      authorize(request, 'keys.manage_own');
    }
    const extra = request.body.scopes.filter((s) => !p.scopes.includes(s));
    if (extra.length) throw new AppError('FORBIDDEN', `a key cannot grant scopes it does not have: ${extra.join(', ')}`, { scopes: extra });
    const expiresAt = request.body.expiresAt ? new Date(request.body.expiresAt) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new AppError('INVALID_INPUT', 'expiresAt must be in the future', { field: 'expiresAt' });
    const created = await ops.createKey(ctx(request), p.orgId, { userId, name: request.body.name, scopes: request.body.scopes, expiresAt });
    return reply.code(201).send({ key: keyOut(created.key), secret: created.secret });
  });

  app.post(
    '/v1/keys/:keyId/revoke',
    { schema: { tags, security, summary: 'Revoke a key now, on every gateway', params: KeyIdParams, response: { 200: KeyOut } } },
    async (request) => {
      const p = await authorizeKeyAction(request, request.params.keyId);
      return keyOut(await ops.revokeKey(ctx(request), p.orgId, request.params.keyId));
    },
  );

  app.post(
    '/v1/keys/:keyId/rotate',
    {
      schema: {
        tags,
        security,
        summary: 'Issue a successor; the old key keeps working for the overlap window',
        params: KeyIdParams,
        body: RotateKeyBody,
        response: { 201: RotatedKeyOut },
      },
    },
    async (request, reply) => {
      const p = await authorizeKeyAction(request, request.params.keyId);
      const r = await ops.rotateKey(ctx(request), p.orgId, request.params.keyId, request.body.overlapSeconds);
      return reply.code(201).send({ key: keyOut(r.next.key), secret: r.next.secret, previous: keyOut(r.previous) });
    },
  );

  app.get('/v1/org/audit', { schema: { tags, security, summary: "The organization's audit log, newest first", querystring: AuditQuery, response: { 200: z.object({ entries: z.array(AuditOut) }) } } }, async (request) => {
    const p = authorize(request, 'audit.read');
    const entries = await ops.listAudit(p.orgId, { limit: request.query.limit, ...(request.query.before ? { beforeId: request.query.before } : {}) });
    return { entries: entries.map(auditOut) };
  });

  app.get(
    '/v1/org/usage',
    {
      schema: {
        tags,
        security,
        summary: "Usage per day, user and tool (members see their own; owners and admins anyone's)",
        description: 'From the daily rollups, refreshed every few minutes (`asOf`). Days are UTC; the last 30 days by default.',
        querystring: UsageQuery,
        response: { 200: UsageOut },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { userId } = request.query;
      // Without a user: the whole organization for those who may see it, your own otherwise.
      if (userId === undefined && !can(p.role, 'usage.read_all')) return ops.usage(p.orgId, { ...request.query, userId: p.userId });
      authorize(request, userId === p.userId ? 'usage.read_own' : 'usage.read_all');
      return ops.usage(p.orgId, request.query);
    },
  );

  /**
   * Own keys need keys.manage_own; others' keys keys.manage_all, and an owner's keys also
   * members.manage_owners (a key acts with its holder's role, so handling an owner's key is
   * managing an owner). Unknown keys are 404 before any role is checked.
   */
  async function authorizeKeyAction(request: FastifyRequest, keyId: string): Promise<Principal> {
    const p = principalOf(request);
    const key = await ops.getKey(p.orgId, keyId);
    if (!key) throw notFound('key');
    if (key.userId === p.userId) return authorize(request, 'keys.manage_own');
    const holder = await ops.getMember(p.orgId, key.userId);
    return authorizeOnBehalfOf(request, holder?.role ?? 'member');
  }

  function authorizeOnBehalfOf(request: FastifyRequest, holderRole: Principal['role']): Principal {
    const p = authorize(request, 'keys.manage_all');
    return holderRole === 'owner' ? authorize(request, 'members.manage_owners') : p;
  }
}

const MeOut = z.object({
  userId: z.string(),
  orgId: z.string(),
  role: z.string(),
  plan: z.object({ id: z.string(), name: z.string() }),
  key: z.object({ id: z.string(), prefix: z.string(), scopes: z.array(z.string()) }),
});

function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('UNAUTHENTICATED', 'an API key is required');
  return request.principal;
}

function authorize(request: FastifyRequest, operation: AccountOperation): Principal {
  const p = principalOf(request);
  if (!can(p.role, operation)) {
    throw new AppError('FORBIDDEN', `the ${p.role} role may not do this (${operation})`, { role: p.role, operation });
  }
  return p;
}

function ctx(request: FastifyRequest): OpContext {
  return { actor: { type: 'user', id: principalOf(request).userId }, requestId: request.id };
}
