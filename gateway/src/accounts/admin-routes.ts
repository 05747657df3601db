import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../../core/errors.js';
import { Plan } from '../../../core/plans.js';
import { findTool, TOOL_CATALOG } from '../../../core/tools/catalog.js';
import { credentialFromHeaders } from '../auth/credentials.js';
import type { StaffAuthenticator, StaffPrincipal } from '../auth/staff-authenticator.js';
import {
  AddMemberBody,
  AuditOut,
  AuditQuery,
  auditOut,
  ChangeRoleBody,
  CreateKeyBody,
  CreateOrgBody,
  CreateUserBody,
  FindUserQuery,
  idOf,
  KeyOut,
  keyOut,
  ListOrgsQuery,
  MemberOut,
  memberOut,
  NewKeyOut,
  OrgOut,
  orgOut,
  PlanCreateBody,
  PlanPatchBody,
  RenameOrgBody,
  RotateKeyBody,
  RotatedKeyOut,
  UsageOut,
  UsageQuery,
  UserOut,
  userOut,
} from './schemas.js';
import { subscriptionAdminRoutes, type SubscriptionRouteDeps } from '../billing/subscription-routes.js';
import { notFound, type OpContext, type TenancyOperations } from './tenancy-operations.js';

declare module 'fastify' {
  interface FastifyRequest {
    staff?: StaffPrincipal;
  }
}

export interface AdminRouteDeps {
  readonly authenticator: StaffAuthenticator;
  readonly ops: TenancyOperations;
  readonly planName: (planId: string) => string;
  /** Subscriptions and plan changes (the organization's subscription workflow). */
  readonly billing: Omit<SubscriptionRouteDeps, 'planName' | 'existingOrg' | 'actorOf'>;
}

const OrgParams = z.object({ orgId: idOf('org', 'organization') }).strict();
const OrgUserParams = OrgParams.extend({ userId: idOf('user', 'user') }).strict();
const OrgKeyParams = OrgParams.extend({ keyId: idOf('key', 'key') }).strict();
const UserParams = z.object({ userId: idOf('user', 'user') }).strict();
const PlanParams = z.object({ planId: z.string().regex(/^[a-z][a-z0-9_-]{1,31}$/) }).strict();

/**
 * The admin API (`/admin/v1`, admin port) for the operator's staff, authenticated by
 * staff tokens. Organization-scoped routes run under that organization's row-level
 * security like customer requests do; only listing and search span organizations.
 * Every change is audited with the staff member as actor.
 */
export async function adminRoutes(root: FastifyInstance, deps: AdminRouteDeps): Promise<void> {
  const app = root.withTypeProvider<ZodTypeProvider>();
  const { ops } = deps;

  app.addHook('onRequest', async (request, reply) => {
    const credential = credentialFromHeaders(request.headers);
    if (!credential) throw new AppError('UNAUTHENTICATED', 'a staff token is required: send "Authorization: Bearer tgs_…"');
    request.staff = await deps.authenticator.authenticate(credential.key);
    request.log = reply.log = request.log.child({ staffId: request.staff.staffId });
  });

  const tags = ['admin'];
  const security = [{ staffToken: [] }];
  const org = (o: Parameters<typeof orgOut>[0]) => orgOut(o, deps.planName);

  // Plans
  app.get('/admin/v1/plans', { schema: { tags, security, summary: 'Every plan with its limits', response: { 200: z.object({ plans: z.array(Plan) }) } } }, async () => ({
    plans: await ops.listPlans(),
  }));
  app.post('/admin/v1/plans', { schema: { tags, security, summary: 'Create a plan', body: PlanCreateBody, response: { 201: Plan } } }, async (request, reply) => {
    const plan = request.body;
    if (plan.allowedTools === null && !TOOL_CATALOG.some((t) => t.plans.includes(plan.id))) {
      // `null` means "the tools that declare this plan"; for a new plan that is none at all.
      throw new AppError('INVALID_INPUT', `no tool declares the plan "${plan.id}": list its tools in allowedTools`, { field: 'allowedTools' });
    }
    const unknown = (plan.allowedTools ?? []).filter((name) => !findTool(name));
    if (unknown.length) throw new AppError('INVALID_INPUT', `unknown tools in allowedTools: ${unknown.join(', ')}`, { field: 'allowedTools' });
    return reply.code(201).send(await ops.createPlan(ctx(request), plan));
  });
  app.patch(
    '/admin/v1/plans/:planId',
    { schema: { tags, security, summary: 'Edit a plan; every gateway applies it within seconds', params: PlanParams, body: PlanPatchBody, response: { 200: Plan } } },
    async (request) => ops.updatePlan(ctx(request), request.params.planId, request.body),
  );

  // Organizations
  app.get(
    '/admin/v1/orgs',
    { schema: { tags, security, summary: 'Organizations, by id, with keyset pagination', querystring: ListOrgsQuery, response: { 200: z.object({ organizations: z.array(OrgOut), next: z.string().nullable() }) } } },
    async (request) => {
      const { limit, after, search } = request.query;
      const items = await ops.listOrganizations({ limit, ...(after ? { after } : {}), ...(search ? { search } : {}) });
      return { organizations: items.map(org), next: items.length === limit ? items.at(-1)!.id : null };
    },
  );
  app.post('/admin/v1/orgs', { schema: { tags, security, summary: 'Create an organization with its owner', body: CreateOrgBody, response: { 201: OrgOut } } }, async (request, reply) => {
    const { name, plan, owner } = request.body;
    const created = await ops.createOrganization(ctx(request), { name, planId: plan, owner: { email: owner.email, name: owner.name ?? owner.email.split('@')[0]! } });
    return reply.code(201).send(org(created));
  });
  app.get('/admin/v1/orgs/:orgId', { schema: { tags, security, params: OrgParams, response: { 200: OrgOut } } }, async (request) => org(await existingOrg(request.params.orgId)));
  app.patch('/admin/v1/orgs/:orgId', { schema: { tags, security, summary: 'Rename', params: OrgParams, body: RenameOrgBody, response: { 200: OrgOut } } }, async (request) => {
    await existingOrg(request.params.orgId);
    return org(await ops.renameOrganization(ctx(request), request.params.orgId, request.body.name));
  });
  subscriptionAdminRoutes(app, { ...deps.billing, planName: deps.planName, existingOrg, actorOf: ctx });
  app.get(
    '/admin/v1/orgs/:orgId/audit',
    { schema: { tags, security, params: OrgParams, querystring: AuditQuery, response: { 200: z.object({ entries: z.array(AuditOut) }) } } },
    async (request) => {
      await existingOrg(request.params.orgId);
      const entries = await ops.listAudit(request.params.orgId, { limit: request.query.limit, ...(request.query.before ? { beforeId: request.query.before } : {}) });
      return { entries: entries.map(auditOut) };
    },
  );

  app.get(
    '/admin/v1/orgs/:orgId/usage',
    { schema: { tags, security, summary: 'Usage per day, user and tool (daily rollups; `asOf` says how fresh)', params: OrgParams, querystring: UsageQuery, response: { 200: UsageOut } } },
    async (request) => {
      await existingOrg(request.params.orgId);
      return ops.usage(request.params.orgId, request.query);
    },
  );

  // Members
  app.get('/admin/v1/orgs/:orgId/members', { schema: { tags, security, params: OrgParams, response: { 200: z.object({ members: z.array(MemberOut) }) } } }, async (request) => {
    await existingOrg(request.params.orgId);
    return { members: (await ops.listMembers(request.params.orgId)).map(memberOut) };
  });
  app.post('/admin/v1/orgs/:orgId/members', { schema: { tags, security, params: OrgParams, body: AddMemberBody, response: { 201: MemberOut } } }, async (request, reply) => {
    await existingOrg(request.params.orgId);
    const { email, role } = request.body;
    const member = await ops.addMember(ctx(request), request.params.orgId, { email, role, name: request.body.name ?? email.split('@')[0]! });
    return reply.code(201).send(memberOut(member));
  });
  app.patch('/admin/v1/orgs/:orgId/members/:userId', { schema: { tags, security, params: OrgUserParams, body: ChangeRoleBody, response: { 200: MemberOut } } }, async (request) =>
    memberOut(await ops.changeRole(ctx(request), request.params.orgId, request.params.userId, request.body.role)),
  );
  app.delete('/admin/v1/orgs/:orgId/members/:userId', { schema: { tags, security, params: OrgUserParams, response: { 204: z.null() } } }, async (request, reply) => {
    await ops.removeMember(ctx(request), request.params.orgId, request.params.userId);
    return reply.code(204).send(null);
  });

  // Keys
  app.get('/admin/v1/orgs/:orgId/keys', { schema: { tags, security, params: OrgParams, response: { 200: z.object({ keys: z.array(KeyOut) }) } } }, async (request) => {
    await existingOrg(request.params.orgId);
    return { keys: (await ops.listKeys(request.params.orgId)).map(keyOut) };
  });
  app.post('/admin/v1/orgs/:orgId/keys', { schema: { tags, security, params: OrgParams, body: CreateKeyBody.required({ userId: true }), response: { 201: NewKeyOut } } }, async (request, reply) => {
    await existingOrg(request.params.orgId);
    const { userId, name, scopes, expiresAt } = request.body;
    const expires = expiresAt ? new Date(expiresAt) : null;
    if (expires && expires.getTime() <= Date.now()) throw new AppError('INVALID_INPUT', 'expiresAt must be in the future', { field: 'expiresAt' });
    const created = await ops.createKey(ctx(request), request.params.orgId, { userId, name, scopes, expiresAt: expires });
    return reply.code(201).send({ key: keyOut(created.key), secret: created.secret });
  });
  app.post('/admin/v1/orgs/:orgId/keys/:keyId/revoke', { schema: { tags, security, params: OrgKeyParams, response: { 200: KeyOut } } }, async (request) =>
    keyOut(await ops.revokeKey(ctx(request), request.params.orgId, request.params.keyId)),
  );
  app.post('/admin/v1/orgs/:orgId/keys/:keyId/rotate', { schema: { tags, security, params: OrgKeyParams, body: RotateKeyBody, response: { 201: RotatedKeyOut } } }, async (request, reply) => {
    const r = await ops.rotateKey(ctx(request), request.params.orgId, request.params.keyId, request.body.overlapSeconds);
    return reply.code(201).send({ key: keyOut(r.next.key), secret: r.next.secret, previous: keyOut(r.previous) });
  });

  // Users
  app.post('/admin/v1/users', { schema: { tags, security, summary: 'Create a user (with a personal organization)', body: CreateUserBody, response: { 201: UserOut, 200: UserOut } } }, async (request, reply) => {
    const { user, created } = await ops.createUser(ctx(request), request.body);
    return reply.code(created ? 201 : 200).send(userOut(user));
  });
  app.get('/admin/v1/users', { schema: { tags, security, summary: 'Find a user by email', querystring: FindUserQuery, response: { 200: UserOut } } }, async (request) => {
    const found = await ops.findUserByEmail(request.query.email);
    const user = found && (await ops.getUser(found.id));
    if (!user) throw notFound('user');
    return userOut(user);
  });
  app.get('/admin/v1/users/:userId', { schema: { tags, security, params: UserParams, response: { 200: UserOut } } }, async (request) => {
    const user = await ops.getUser(request.params.userId);
    if (!user) throw notFound('user');
    return userOut(user);
  });

  app.get('/admin/v1/audit', { schema: { tags, security, summary: 'The whole audit log, newest first', querystring: AuditQuery, response: { 200: z.object({ entries: z.array(AuditOut) }) } } }, async (request) => {
    const entries = await ops.listPlatformAudit({ limit: request.query.limit, ...(request.query.before ? { beforeId: request.query.before } : {}) });
    return { entries: entries.map(auditOut) };
  });

  async function existingOrg(orgId: string) {
    const found = await ops.getOrganization(orgId);
    if (!found) throw notFound('organization');
    return found;
  }
}

function ctx(request: FastifyRequest): OpContext {
  if (!request.staff) throw new AppError('UNAUTHENTICATED', 'a staff token is required');
  return { actor: { type: 'staff', id: request.staff.staffId }, requestId: request.id };
}
