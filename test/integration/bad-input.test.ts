import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.js';
import type { Pool } from '../../platform/pg/pool.js';
import { createApiKey, provision } from '../../platform/tenancy/provisioning.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { expectError, send, type Answer, type HttpMethod } from '../support/api.js';
import { snapshotOrg } from '../support/isolation-suite.js';
import { ownerPool, startGateway, type TestGateway } from '../support/stack.js';
import { createTenant, type TestTenant } from '../support/tenants.js';

/**
 * Bad input on the account and admin APIs: every case answers 400 INVALID_INPUT (413
 * PAYLOAD_TOO_LARGE for an oversized body) in the one error shape, names the offending
 * field when validation refused it, and changes nothing.
 */
let stack: TestGateway;
let pool: Pool;
let fx: { t: TestTenant; staff: string; planId: string; publicUrl: string };
const run = `${process.pid}${Date.now().toString(36)}`;

beforeAll(async () => {
  pool = ownerPool();
  stack = await startGateway();
  const staff = await createStaffWithToken(pool, { email: `bad-input-${run}@staff.test`, name: 'Bad Input', tokenName: 'bad input' });
  const t = await createTenant(pool);
  fx = { t, staff: staff.token, planId: `bad-input-${run}`.slice(0, 32), publicUrl: stack.mcpUrl.replace(/\/mcp$/, '') };
  const plan = { id: fx.planId, name: 'Bad Input Plan', rank: 9, limits: LIMITS, allowedTools: ['text_stats'], cacheTtlSeconds: 60, quotaPolicy: 'block' };
  const created = await call({ api: 'admin', method: 'POST', path: '/admin/v1/plans', body: plan });
  expect(created.status, created.text).toBe(201);
});

afterAll(async () => {
  await stack?.close();
  await pool?.end();
});

type Fx = typeof fx;
interface Case {
  readonly name: string;
  readonly api: 'account' | 'admin';
  readonly method: HttpMethod;
  readonly path: string | ((f: Fx) => string);
  readonly body?: unknown;
  readonly raw?: string | Uint8Array;
  readonly contentType?: string;
  readonly status?: 400 | 413;
  /** Text the error message must contain: the field path for validation errors. */
  readonly names?: string;
  /** An email the request would have created a user for: it must not exist afterwards. */
  readonly creates?: string;
  /** A plan id the request would have created: it must not exist afterwards. */
  readonly createsPlan?: string;
}

function call(c: Omit<Case, 'name'>): Promise<Answer> {
  const base = c.api === 'admin' ? stack.adminUrl : fx.publicUrl;
  const token = c.api === 'admin' ? fx.staff : fx.t.key;
  const path = typeof c.path === 'function' ? c.path(fx) : c.path;
  return send(base, {
    method: c.method,
    path,
    token,
    ...(c.body === undefined ? {} : { body: c.body }),
    ...(c.raw === undefined ? {} : { raw: c.raw }),
    ...(c.contentType ? { headers: { 'content-type': c.contentType } } : {}),
  });
}

async function world(c: Case) {
  const plan = await pool.query('SELECT to_jsonb(p) AS p FROM plans p WHERE id = $1', [fx.planId]);
  const users = c.creates ? await pool.query('SELECT id FROM users WHERE lower(email) = lower($1)', [c.creates]) : { rows: [] };
  const plans = c.createsPlan ? await pool.query('SELECT id FROM plans WHERE id = $1', [c.createsPlan]) : { rows: [] };
  return { org: await snapshotOrg(pool, fx.t.orgId), plan: plan.rows, createdUsers: users.rows, createdPlans: plans.rows };
}

function badInputSuite(cases: readonly Case[]): void {
  it.each(cases.map((c) => [c.api, c.name, c] as const))('%s: %s', async (_api, _name, c) => {
    const before = await world(c);
    const answer = await call(c);
    const status = c.status ?? 400;
    const error = expectError(answer, status, status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_INPUT');
    if (c.names) expect(error.message).toContain(c.names);
    const after = await world(c);
    expect(after).toEqual(before);
    expect(after.createdUsers).toEqual([]);
    expect(after.createdPlans).toEqual([]);
  });
}

let n = 0;
const freshEmail = () => `bad-${run}-${n++}@example.test`;
const orgPath = (suffix = '') => (f: Fx) => `/admin/v1/orgs/${f.t.orgId}${suffix}`;

// Names: every endpoint that takes one, every kind of bad value.
const BAD_NAMES: Array<[string, unknown]> = [
  ['121 characters', 'n'.repeat(121)],
  ['an SQL injection', "Robert'); DROP TABLE api_keys;--"],
  ['a semicolon', 'a;b'],
  ['double quotes', 'say "hi"'],
  ['a single quote', "it's"],
  ['a backslash', 'back\\slash'],
  ['a NUL byte', 'nul\u0000byte'],
  ['a newline', 'line\nbreak'],
  ['an ANSI escape', 'esc\u001b[31mred'],
  ['a right-to-left override', 'bidi\u202Eevil'],
  ['only spaces', '   '],
  ['a number', 42],
];
type NameTarget = { what: string; api: Case['api']; method: HttpMethod; path: Case['path']; names: string; body: (name: unknown, email: string) => unknown; creates?: boolean };
const NAME_TARGETS: NameTarget[] = [
  { what: 'rename org', api: 'account', method: 'PATCH', path: '/v1/org', names: 'body/name', body: (name) => ({ name }) },
  { what: 'create key', api: 'account', method: 'POST', path: '/v1/keys', names: 'body/name', body: (name) => ({ name }) },
  { what: 'add member', api: 'account', method: 'POST', path: '/v1/org/members', names: 'body/name', body: (name, email) => ({ email, name }), creates: true },
  { what: 'rename org', api: 'admin', method: 'PATCH', path: orgPath(), names: 'body/name', body: (name) => ({ name }) },
  { what: 'create org', api: 'admin', method: 'POST', path: '/admin/v1/orgs', names: 'body/name', body: (name, email) => ({ name, owner: { email } }), creates: true },
  { what: 'create org (owner name)', api: 'admin', method: 'POST', path: '/admin/v1/orgs', names: 'body/owner/name', body: (name, email) => ({ name: 'Fine Org', owner: { email, name } }), creates: true },
  { what: 'create user', api: 'admin', method: 'POST', path: '/admin/v1/users', names: 'body/name', body: (name, email) => ({ email, name }), creates: true },
  { what: 'add member', api: 'admin', method: 'POST', path: orgPath('/members'), names: 'body/name', body: (name, email) => ({ email, name }), creates: true },
  { what: 'edit plan', api: 'admin', method: 'PATCH', path: () => `/admin/v1/plans/${fx.planId}`, names: 'body/name', body: (name) => ({ name }) },
];
const NAME_CASES: Case[] = NAME_TARGETS.flatMap((t) =>
  BAD_NAMES.map(([label, value]) => {
    const email = freshEmail();
    return { name: `${t.what}: name with ${label}`, api: t.api, method: t.method, path: t.path, names: t.names, body: t.body(value, email), ...(t.creates ? { creates: email } : {}) };
  }),
);
const LIMITS = {
  perKey: { perMinute: 5 },
  perUser: { perMinute: 5, perDay: 100, perMonth: 2000, concurrent: 2 },
  perOrg: { perMinute: 20, perDay: 400, perMonth: 8000, concurrent: 4 },
  perIp: { perMinute: 120 },
  burst: { max: 5, windowMs: 1000 },
  globalPool: { perSecond: 500 },
  expensive: { perMinute: 1, perDay: 10, concurrent: 1 },
  otherMethodsPerMinute: 120,
};
// Plans are created with the full plan schema; its name must be as safe as every other name.
const PLAN_NAME_CASES: Case[] = (
  [
    ['81 characters', 'p'.repeat(81)],
    ['an SQL injection', "Robert'); DROP TABLE api_keys;--"],
    ['a control character', 'tab\there'],
    ['angle brackets', '<script>alert(1)</script>'],
  ] as const
).map(([label, name], i) => {
  const id = `bad-plan-${run}-${i}`.slice(0, 32);
  return { name: `create plan: name with ${label}`, api: 'admin', method: 'POST', path: '/admin/v1/plans', names: 'body/name', createsPlan: id, body: { id, name, rank: 9, limits: LIMITS, allowedTools: ['text_stats'], cacheTtlSeconds: 60, quotaPolicy: 'block' } };
});

// Emails.
const BAD_EMAILS: Array<[string, unknown]> = [
  ['no at sign', 'not-an-email'],
  ['no top-level domain', 'a@b'],
  ['two at signs', 'two@@example.test'],
  ['an SQL injection', "x@example.test'; DROP TABLE users;--"],
  ['256 characters', `${'e'.repeat(243)}@example.test`],
  ['nothing', ''],
  ['a number', 42],
  ['a newline', 'a\nb@example.test'],
];
const EMAIL_CASES: Case[] = BAD_EMAILS.flatMap(([label, email]): Case[] => [
  { name: `add member: email with ${label}`, api: 'account', method: 'POST', path: '/v1/org/members', body: { email }, names: 'body/email' },
  { name: `add member: email with ${label}`, api: 'admin', method: 'POST', path: orgPath('/members'), body: { email }, names: 'body/email' },
  { name: `create user: email with ${label}`, api: 'admin', method: 'POST', path: '/admin/v1/users', body: { email, name: 'Fine Name' }, names: 'body/email', creates: String(email) },
  { name: `create org: owner email with ${label}`, api: 'admin', method: 'POST', path: '/admin/v1/orgs', body: { name: 'Fine Org', owner: { email } }, names: 'body/owner/email', creates: String(email) },
  { name: `find user: email with ${label}`, api: 'admin', method: 'GET', path: `/admin/v1/users?email=${encodeURIComponent(String(email))}`, names: 'querystring/email' },
]);

// Malformed ids in paths: `:orgId` is the tenant's own organization, `*` the malformed id.
const bad = (kind: string, other: string) => [`${kind}_0OIl`, "' OR 1=1 --", `${kind}_${'1'.repeat(41)}`, `${other}_${'1'.repeat(20)}`, `${kind}_x`];
const ID_ROUTES: Array<{ api: Case['api']; method: HttpMethod; template: string; param: string; ids: string[]; body?: unknown }> = [
  { api: 'account', method: 'POST', template: '/v1/keys/*/revoke', param: 'params/keyId', ids: bad('key', 'usr') },
  { api: 'account', method: 'POST', template: '/v1/keys/*/rotate', param: 'params/keyId', ids: bad('key', 'usr'), body: {} },
  { api: 'account', method: 'PATCH', template: '/v1/org/members/*', param: 'params/userId', ids: bad('usr', 'key'), body: { role: 'admin' } },
  { api: 'account', method: 'DELETE', template: '/v1/org/members/*', param: 'params/userId', ids: bad('usr', 'key') },
  { api: 'admin', method: 'GET', template: '/admin/v1/orgs/*', param: 'params/orgId', ids: bad('org', 'usr') },
  { api: 'admin', method: 'PUT', template: '/admin/v1/orgs/*/plan', param: 'params/orgId', ids: bad('org', 'key'), body: { plan: 'free' } },
  { api: 'admin', method: 'POST', template: '/admin/v1/orgs/:orgId/keys/*/revoke', param: 'params/keyId', ids: bad('key', 'org') },
  { api: 'admin', method: 'DELETE', template: '/admin/v1/orgs/:orgId/members/*', param: 'params/userId', ids: bad('usr', 'org') },
  { api: 'admin', method: 'GET', template: '/admin/v1/users/*', param: 'params/userId', ids: bad('usr', 'stf') },
];
const ID_CASES: Case[] = ID_ROUTES.flatMap((r) =>
  r.ids.map((id) => ({
    name: `${r.method} ${r.template} with ${JSON.stringify(id.length > 24 ? `${id.slice(0, 8)}…(${id.length} chars)` : id)}`,
    api: r.api,
    method: r.method,
    path: (f: Fx) => r.template.replace(':orgId', f.t.orgId).replace('*', encodeURIComponent(id)),
    names: r.param,
    ...(r.body ? { body: r.body } : {}),
  })),
);

const nonUtf8 = Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
const twoMiB = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) });
const past = new Date(Date.now() - 60_000).toISOString();
const keyPath = (suffix: string) => (f: Fx) => `/v1/keys/${f.t.keyId}${suffix}`;
const memberPath = (f: Fx) => `/v1/org/members/${f.t.userId}`;

const MISC_CASES: Case[] = [
  // Unknown fields.
  { name: 'rename org with an orgId', api: 'account', method: 'PATCH', path: '/v1/org', body: { name: 'Fine', orgId: 'org_11111111111111111111' }, names: '"orgId"' },
  { name: 'create key with an orgId', api: 'account', method: 'POST', path: '/v1/keys', body: { name: 'k', orgId: 'org_11111111111111111111' }, names: '"orgId"' },
  { name: 'create key with a role', api: 'account', method: 'POST', path: '/v1/keys', body: { name: 'k', role: 'owner' }, names: '"role"' },
  { name: 'add member with an orgId', api: 'account', method: 'POST', path: '/v1/org/members', body: { email: freshEmail(), orgId: 'org_11111111111111111111' }, names: '"orgId"' },
  { name: 'change role with a userId', api: 'account', method: 'PATCH', path: memberPath, body: { role: 'owner', userId: 'usr_11111111111111111111' }, names: '"userId"' },
  { name: 'rotate with an expiresAt', api: 'account', method: 'POST', path: keyPath('/rotate'), body: { overlapSeconds: 0, expiresAt: past }, names: '"expiresAt"' },
  { name: 'assign plan with an orgId', api: 'admin', method: 'PUT', path: orgPath('/plan'), body: { plan: 'pro', orgId: 'org_11111111111111111111' }, names: '"orgId"' },
  { name: 'create org with an owner role', api: 'admin', method: 'POST', path: '/admin/v1/orgs', body: { name: 'Fine', owner: { email: freshEmail(), role: 'admin' } }, names: '"role"' },
  { name: 'create user with an admin flag', api: 'admin', method: 'POST', path: '/admin/v1/users', body: { email: freshEmail(), name: 'Fine', admin: true }, names: '"admin"' },
  { name: 'edit plan with an unknown limit', api: 'admin', method: 'PATCH', path: () => `/admin/v1/plans/${fx.planId}`, body: { limits: { perKey: { perHour: 5 } } }, names: '"perHour"' },
  { name: 'audit with an unknown query parameter', api: 'account', method: 'GET', path: '/v1/org/audit?orgId=org_11111111111111111111', names: '"orgId"' },
  // Wrong types and values.
  { name: 'rename org with a number', api: 'account', method: 'PATCH', path: '/v1/org', body: { name: 42 }, names: 'body/name' },
  { name: 'rename org with an array body', api: 'account', method: 'PATCH', path: '/v1/org', body: [{ name: 'Fine' }], names: 'body' },
  { name: 'rename org without a body', api: 'account', method: 'PATCH', path: '/v1/org', names: 'body' },
  { name: 'create key with scopes as a string', api: 'account', method: 'POST', path: '/v1/keys', body: { name: 'k', scopes: 'mcp' }, names: 'body/scopes' },
  { name: 'create key with an unknown scope', api: 'account', method: 'POST', path: '/v1/keys', body: { name: 'k', scopes: ['root'] }, names: 'body/scopes/0' },
  { name: 'create key with no scopes', api: 'account', method: 'POST', path: '/v1/keys', body: { name: 'k', scopes: [] }, names: 'body/scopes' },
  { name: 'create key expiring "tomorrow"', api: 'account', method: 'POST', path: '/v1/keys', body: { name: 'k', expiresAt: 'tomorrow' }, names: 'body/expiresAt' },
  { name: 'create key expiring in the past', api: 'account', method: 'POST', path: '/v1/keys', body: { name: 'k', expiresAt: past }, names: 'expiresAt' },
  { name: 'create key for a malformed user', api: 'account', method: 'POST', path: '/v1/keys', body: { name: 'k', userId: "' OR 1=1 --" }, names: 'body/userId' },
  { name: 'rotate with overlap as a string', api: 'account', method: 'POST', path: keyPath('/rotate'), body: { overlapSeconds: '60' }, names: 'body/overlapSeconds' },
  { name: 'rotate with a negative overlap', api: 'account', method: 'POST', path: keyPath('/rotate'), body: { overlapSeconds: -1 }, names: 'body/overlapSeconds' },
  { name: 'rotate with a fractional overlap', api: 'account', method: 'POST', path: keyPath('/rotate'), body: { overlapSeconds: 1.5 }, names: 'body/overlapSeconds' },
  { name: 'change role to superuser', api: 'account', method: 'PATCH', path: memberPath, body: { role: 'superuser' }, names: 'body/role' },
  { name: 'add member with role root', api: 'account', method: 'POST', path: '/v1/org/members', body: { email: freshEmail(), role: 'root' }, names: 'body/role' },
  { name: 'audit with limit=abc', api: 'account', method: 'GET', path: '/v1/org/audit?limit=abc', names: 'querystring/limit' },
  { name: 'audit with limit=0', api: 'account', method: 'GET', path: '/v1/org/audit?limit=0', names: 'querystring/limit' },
  { name: 'audit with an injected cursor', api: 'account', method: 'GET', path: `/v1/org/audit?before=${encodeURIComponent('1; DROP TABLE audit_log')}`, names: 'querystring/before' },
  { name: 'list orgs with limit=1000', api: 'admin', method: 'GET', path: '/admin/v1/orgs?limit=1000', names: 'querystring/limit' },
  { name: 'edit plan with a string TTL', api: 'admin', method: 'PATCH', path: () => `/admin/v1/plans/${fx.planId}`, body: { cacheTtlSeconds: 'x' }, names: 'body/cacheTtlSeconds' },
  // Plans by name.
  { name: 'assign an unknown plan', api: 'admin', method: 'PUT', path: orgPath('/plan'), body: { plan: 'nosuchplan' }, names: 'plan' },
  { name: 'assign a malformed plan name', api: 'admin', method: 'PUT', path: orgPath('/plan'), body: { plan: "Pro'; --" }, names: 'body/plan' },
  { name: 'assign a plan given as a number', api: 'admin', method: 'PUT', path: orgPath('/plan'), body: { plan: 42 }, names: 'body/plan' },
  (() => {
    const email = freshEmail();
    return { name: 'create org on an unknown plan (the owner is not created either)', api: 'admin', method: 'POST', path: '/admin/v1/orgs', body: { name: 'Fine', plan: 'nosuchplan', owner: { email } }, names: 'plan', creates: email } as const;
  })(),
  // Bodies that are not JSON, not UTF-8, or too big.
  ...(['account', 'admin'] as const).flatMap((api): Case[] => {
    const path = api === 'account' ? '/v1/org' : orgPath();
    return [
      { name: 'rename with bytes 0xff 0xfe inside a JSON string', api, method: 'PATCH', path, raw: nonUtf8, names: 'UTF-8' },
      { name: 'rename with truncated JSON', api, method: 'PATCH', path, raw: '{"name":', names: 'JSON' },
      { name: 'rename with single-quoted JSON', api, method: 'PATCH', path, raw: "{name:'x'}", names: 'JSON' },
      { name: 'rename with a trailing comma', api, method: 'PATCH', path, raw: '{"name":"x",}', names: 'JSON' },
      { name: 'rename with a form body', api, method: 'PATCH', path, raw: 'name=x', contentType: 'application/x-www-form-urlencoded' },
      { name: 'rename with a 2 MiB body', api, method: 'PATCH', path, raw: twoMiB, status: 413 },
    ];
  }),
  { name: 'create key with a 2 MiB body', api: 'account', method: 'POST', path: '/v1/keys', raw: twoMiB, status: 413 },
  { name: 'create key with bytes 0xff 0xfe inside a JSON string', api: 'account', method: 'POST', path: '/v1/keys', raw: nonUtf8, names: 'UTF-8' },
];

describe('names', () => badInputSuite([...NAME_CASES, ...PLAN_NAME_CASES]));
describe('emails', () => badInputSuite(EMAIL_CASES));
describe('malformed ids in paths', () => badInputSuite(ID_CASES));
describe('unknown fields, wrong types, unknown plans, broken and oversized bodies', () => badInputSuite(MISC_CASES));

describe('optional bodies', () => {
  it('rotating a key without a body uses the default overlap of one day', async () => {
    const t = await createTenant(pool);
    const answer = await send(fx.publicUrl, { method: 'POST', path: `/v1/keys/${t.keyId}/rotate`, token: t.key });
    expect(answer.status, answer.text).toBe(201);
    const expiresAt = Date.parse((answer.body as { previous: { expiresAt: string } }).previous.expiresAt);
    expect(Math.abs(expiresAt - (Date.now() + 86_400_000))).toBeLessThan(60_000);
  });
});

describe('401, 403 and 404 are used precisely, in the same error shape', () => {
  let p: { t: TestTenant; member: TestTenant; mcpOnly: TestTenant; revoked: string; expired: string; expiredStaff: string };
  const unknownKey = () => `tg_${'2'.repeat(12)}_${'3'.repeat(32)}`;

  beforeAll(async () => {
    const t = await createTenant(pool);
    const keys = await provision(pool, async (db) => ({
      revoked: await createApiKey(db, { orgId: t.orgId, userId: t.userId, name: 'revoked', scopes: ['account'] }),
      expired: await createApiKey(db, { orgId: t.orgId, userId: t.userId, name: 'expired', scopes: ['account'], expiresAt: new Date(Date.now() - 1000) }),
    }));
    await pool.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [keys.revoked.keyId]);
    const expiredStaff = await createStaffWithToken(pool, { email: `bad-input-${run}@staff.test`, name: 'Bad Input', tokenName: 'expired', expiresAt: new Date(Date.now() - 1000) });
    p = {
      t,
      member: await createTenant(pool, { role: 'member' }),
      mcpOnly: await createTenant(pool, { scopes: ['mcp'] }),
      revoked: keys.revoked.raw,
      expired: keys.expired.raw,
      expiredStaff: expiredStaff.token,
    };
  });

  const v1 = (token: string | null, method: HttpMethod, path: string, body?: unknown, headers?: Record<string, string>) =>
    send(fx.publicUrl, { method, path, token, ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) });
  const adm = (token: string | null, method: HttpMethod, path: string, body?: unknown) => send(stack.adminUrl, { method, path, token, ...(body === undefined ? {} : { body }) });

  const UNAUTHENTICATED: Array<[string, () => Promise<Answer>]> = [
    ['/v1 without a key', () => v1(null, 'GET', '/v1/org')],
    ['/v1 with Basic credentials', () => v1(null, 'GET', '/v1/org', undefined, { authorization: 'Basic dXNlcjpwYXNz' })],
    ['/v1 with a malformed key', () => v1('tg_garbage', 'GET', '/v1/org')],
    ['/v1 with a well-formed unknown key', () => v1(unknownKey(), 'GET', '/v1/org')],
    ['/v1 with a known prefix and a wrong secret', () => v1(p.t.key.replace(/_[^_]+$/, `_${'4'.repeat(32)}`), 'GET', '/v1/org')],
    ['/v1 with a revoked key', () => v1(p.revoked, 'GET', '/v1/org')],
    ['/v1 with an expired key', () => v1(p.expired, 'GET', '/v1/org')],
    ['/v1 with a staff token', () => v1(fx.staff, 'GET', '/v1/me')],
    ['/v1 without a key, before validating a malformed id', () => v1(null, 'POST', '/v1/keys/key_0OIl/revoke')],
    ['/v1 without a key, before parsing a broken body', () => send(fx.publicUrl, { method: 'PATCH', path: '/v1/org', token: null, raw: '{"name":' })],
    ['/admin without a token', () => adm(null, 'GET', '/admin/v1/plans')],
    ['/admin with an API key', () => adm(p.t.key, 'GET', '/admin/v1/plans')],
    ['/admin with a malformed staff token', () => adm('tgs_garbage', 'GET', '/admin/v1/plans')],
    ['/admin with an expired staff token', () => adm(p.expiredStaff, 'GET', '/admin/v1/plans')],
    ['/admin without a token, before validating a malformed id', () => adm(null, 'GET', '/admin/v1/orgs/org_x')],
  ];
  it.each(UNAUTHENTICATED)('401 UNAUTHENTICATED: %s', async (_name, request) => {
    const before = await snapshotOrg(pool, p.t.orgId);
    expectError(await request(), 401, 'UNAUTHENTICATED');
    expect(await snapshotOrg(pool, p.t.orgId)).toEqual(before);
  });

  it('401 answers say how to authenticate (WWW-Authenticate: Bearer), as HTTP requires', async () => {
    for (const answer of [await v1(null, 'GET', '/v1/org'), await v1(unknownKey(), 'GET', '/v1/org'), await adm(null, 'GET', '/admin/v1/plans')]) {
      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate') ?? '').toMatch(/^Bearer\b/i);
    }
  });

  const FORBIDDEN: Array<[string, () => Promise<Answer>, () => string]> = [
    ['a member reading the audit log', () => v1(p.member.key, 'GET', '/v1/org/audit'), () => p.member.orgId],
    ['a member renaming the organization', () => v1(p.member.key, 'PATCH', '/v1/org', { name: 'Renamed' }), () => p.member.orgId],
    ['a member adding a member', () => v1(p.member.key, 'POST', '/v1/org/members', { email: freshEmail() }), () => p.member.orgId],
    ['a member creating a key for the owner', () => v1(p.member.key, 'POST', '/v1/keys', { name: 'k', userId: p.t.userId }), () => p.member.orgId],
    ['a key without the account scope', () => v1(p.mcpOnly.key, 'GET', '/v1/org'), () => p.mcpOnly.orgId],
  ];
  it.each(FORBIDDEN)('403 FORBIDDEN: %s', async (_name, request, orgId) => {
    const before = await snapshotOrg(pool, orgId());
    expectError(await request(), 403, 'FORBIDDEN');
    expect(await snapshotOrg(pool, orgId())).toEqual(before);
  });

  const missingOrg = 'org_22222222222222222222';
  const NOT_FOUND: Array<[string, () => Promise<Answer>]> = [
    ['revoking an unknown key', () => v1(p.t.key, 'POST', `/v1/keys/${newId('key')}/revoke`)],
    ['rotating an unknown key', () => v1(p.t.key, 'POST', `/v1/keys/${newId('key')}/rotate`, {})],
    ['changing the role of an unknown member', () => v1(p.t.key, 'PATCH', `/v1/org/members/${newId('user')}`, { role: 'admin' })],
    ['removing an unknown member', () => v1(p.t.key, 'DELETE', `/v1/org/members/${newId('user')}`)],
    ['creating a key for an unknown member', () => v1(p.t.key, 'POST', '/v1/keys', { name: 'k', userId: newId('user') })],
    ['an unknown /v1 route', () => v1(p.t.key, 'GET', '/v1/nope')],
    ['an unknown organization', () => adm(fx.staff, 'GET', `/admin/v1/orgs/${missingOrg}`)],
    ['renaming an unknown organization', () => adm(fx.staff, 'PATCH', `/admin/v1/orgs/${missingOrg}`, { name: 'Fine' })],
    ['assigning a plan to an unknown organization', () => adm(fx.staff, 'PUT', `/admin/v1/orgs/${missingOrg}/plan`, { plan: 'pro' })],
    ["an unknown organization's members", () => adm(fx.staff, 'GET', `/admin/v1/orgs/${missingOrg}/members`)],
    ["an unknown organization's keys", () => adm(fx.staff, 'GET', `/admin/v1/orgs/${missingOrg}/keys`)],
    ["an unknown organization's audit log", () => adm(fx.staff, 'GET', `/admin/v1/orgs/${missingOrg}/audit`)],
    ['revoking an unknown key (admin)', () => adm(fx.staff, 'POST', `/admin/v1/orgs/${p.t.orgId}/keys/${newId('key')}/revoke`)],
    ['an unknown user', () => adm(fx.staff, 'GET', `/admin/v1/users/${newId('user')}`)],
    ['an unknown email', () => adm(fx.staff, 'GET', `/admin/v1/users?email=${encodeURIComponent(freshEmail())}`)],
    ['editing an unknown plan', () => adm(fx.staff, 'PATCH', '/admin/v1/plans/nosuchplan', { cacheTtlSeconds: 1 })],
  ];
  it.each(NOT_FOUND)('404 NOT_FOUND: %s', async (_name, request) => {
    const before = await snapshotOrg(pool, p.t.orgId);
    expectError(await request(), 404, 'NOT_FOUND');
    expect(await snapshotOrg(pool, p.t.orgId)).toEqual(before);
  });
});
