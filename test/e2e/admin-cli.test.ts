import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.js';
import type { AuditEntry, Key, Member, NewKey, Org, Plan, RotatedKey, User } from '../../scripts/admin/render.js';
import { testEnv } from '../support/env.js';
import { modernHeaders, MODERN_META } from '../support/mcp-clients.js';
import { startBillingWorker, startGateway, type TestBillingWorker, type TestGateway } from '../support/stack.js';

/**
 * The admin CLI end to end: every command runs as a real subprocess (`node --import tsx
 * scripts/admin.ts …`) against an in-process gateway, bootstrapped by `staff create`
 * straight in the test database. Names and emails carry this run's tag, so the file can
 * share the database with other files running in parallel; it never edits seeded plans.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const email = (who: string) => `${who}-${RUN}@cli.example.test`;

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let stack: TestGateway;
let billing: TestBillingWorker;
let staff: { staffId: string; tokenId: string; token: string };
let workDir: string;

/** Runs the CLI with the test stack's environment and the staff token (unless `env` overrides it). */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/admin.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...testEnv(), TOLLGATE_ADMIN_URL: stack.adminUrl, TOLLGATE_STAFF_TOKEN: staff?.token ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      // Only `staff create` may ever print a staff token; every other command must not echo it.
      if (staff && args[0] !== 'staff') expect(stdout + stderr).not.toContain(staff.token);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command with `--json`, expects success, and parses stdout as exactly one JSON document. */
async function json<T>(args: readonly string[], env?: Record<string, string>): Promise<T> {
  const r = await cli([...args, '--json'], env);
  expect(r, r.stderr).toMatchObject({ code: 0 });
  return JSON.parse(r.stdout) as T;
}

const toolsList = (key: string) =>
  fetch(stack.mcpUrl, {
    method: 'POST',
    headers: modernHeaders(key, 'tools/list'),
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } }),
  });

beforeAll(async () => {
  [stack, workDir] = await Promise.all([startGateway(), mkdtemp(join(tmpdir(), 'tollgate-admin-cli-'))]);
  // Plan changes run on the organization's subscription workflow (local billing mode: no Stripe).
  billing = await startBillingWorker(stack.config, { ingest: false });
  const r = await cli(['staff', 'create', '--email', email('staff'), '--name', 'CLI Test Staff', '--json'], { TOLLGATE_STAFF_TOKEN: '' });
  expect(r, r.stderr).toMatchObject({ code: 0 });
  expect(r.stderr).toMatch(/shown once/);
  staff = JSON.parse(r.stdout) as typeof staff;
});

afterAll(async () => {
  await billing?.stop();
  await stack?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('staff create (bootstrap, straight in the database)', () => {
  it('prints one JSON document whose token works against the admin API', async () => {
    expect(staff).toEqual({ staffId: expect.stringMatching(/^stf_/) as unknown, tokenId: expect.stringMatching(/^stt_/) as unknown, token: expect.stringMatching(/^tgs_\w{12}_\w{32}$/) as unknown });
    const { plans } = await json<{ plans: Plan[] }>(['plan', 'list']);
    expect(plans.map((p) => p.id)).toEqual(expect.arrayContaining(['free', 'pro', 'ultra']));
  });

  it('reuses the staff member by email, issues a new token, and says in human output that it is shown once', async () => {
    const r = await cli(['staff', 'create', '--email', email('staff'), '--name', 'CLI Test Staff', '--token-name', 'second', '--expires-in-days', '7'], { TOLLGATE_STAFF_TOKEN: '' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(staff.staffId);
    expect(r.stdout).toMatch(/Staff token \(shown once\): tgs_\w{12}_\w{32}/);
    expect(r.stdout).not.toContain(staff.token);
  });
});

describe('two organizations built entirely through the CLI', () => {
  interface Tenant {
    org: Org;
    owner: User;
    admin: Member;
    ownerKey: NewKey;
    adminKey: NewKey;
  }
  const tenants: Record<'a' | 'b', Tenant> = {} as Record<'a' | 'b', Tenant>;

  async function buildTenant(label: 'a' | 'b'): Promise<Tenant> {
    const org = await json<Org>(['org', 'create', '--name', `CLI Org ${label} ${RUN}`, '--owner-email', email(`owner-${label}`), '--owner-name', `Owner ${label}`, '--plan', 'free']);
    const [owner, admin] = await Promise.all([
      json<User>(['user', 'find', '--email', email(`owner-${label}`)]),
      json<Member>(['member', 'add', org.id, '--email', email(`admin-${label}`), '--name', `Admin ${label}`, '--role', 'admin']),
    ]);
    const [ownerKey, adminKey] = await Promise.all([
      json<NewKey>(['key', 'create', org.id, '--user', owner.id, '--name', `owner key ${label}`, '--scopes', 'mcp,account']),
      json<NewKey>(['key', 'create', org.id, '--user', admin.userId, '--name', `admin key ${label}`]),
    ]);
    return { org, owner, admin, ownerKey, adminKey };
  }

  beforeAll(async () => {
    [tenants.a, tenants.b] = await Promise.all([buildTenant('a'), buildTenant('b')]);
  });

  it('gives each organization its owner, an admin and a key per member', async () => {
    for (const t of Object.values(tenants)) {
      expect(t.org).toMatchObject({ id: expect.stringMatching(/^org_/) as unknown, personal: false, plan: { id: 'free' } });
      expect(t.owner.memberships).toContainEqual({ orgId: t.org.id, orgName: t.org.name, role: 'owner' });
      expect(t.admin).toMatchObject({ userId: expect.stringMatching(/^usr_/) as unknown, role: 'admin' });
      expect(t.ownerKey).toMatchObject({ key: { orgId: t.org.id, userId: t.owner.id, scopes: ['mcp', 'account'], status: 'active' } });
      expect(t.adminKey).toMatchObject({ key: { orgId: t.org.id, userId: t.admin.userId, scopes: ['mcp'], status: 'active' } });
      expect(t.ownerKey.secret).toMatch(new RegExp(`^tg_${t.ownerKey.key.prefix}_\\w{32}$`));
      const { members } = await json<{ members: Member[] }>(['member', 'list', t.org.id]);
      expect(members.map((m) => [m.userId, m.role]).sort()).toEqual([[t.owner.id, 'owner'], [t.admin.userId, 'admin']].sort());
    }
    const found = await json<{ organizations: Org[] }>(['org', 'list', '--search', RUN, '--limit', '10']);
    expect(found.organizations.map((o) => o.id).sort()).toEqual([tenants.a.org.id, tenants.b.org.id].sort());
  });

  it('lists keys by prefix, in both output modes, never with a secret, and only the organization’s own', async () => {
    const { a, b } = tenants;
    const human = await cli(['key', 'list', a.org.id]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`tg_${a.ownerKey.key.prefix}…`);
    expect(human.stdout).toContain(`tg_${a.adminKey.key.prefix}…`);
    const asJson = await cli(['key', 'list', a.org.id, '--json']);
    const { keys } = JSON.parse(asJson.stdout) as { keys: Key[] };
    expect(keys.map((k) => k.id).sort()).toEqual([a.ownerKey.key.id, a.adminKey.key.id].sort());
    for (const out of [human.stdout, asJson.stdout]) {
      for (const secret of [a.ownerKey.secret, a.adminKey.secret]) {
        expect(out).not.toContain(secret);
        expect(out).not.toContain(secret.split('_')[2]);
      }
      expect(out).not.toContain(b.ownerKey.key.id);
    }
  });

  it('issues keys that work on /mcp until key revoke, after which they get 401', async () => {
    const { b } = tenants;
    const before = await toolsList(b.adminKey.secret);
    expect(before.status).toBe(200);
    expect(((await before.json()) as { result: { tools: Array<{ name: string }> } }).result.tools.map((t) => t.name)).toContain('text_stats');

    const revoked = await json<Key>(['key', 'revoke', b.org.id, b.adminKey.key.id]);
    expect(revoked).toMatchObject({ id: b.adminKey.key.id, status: 'revoked', revokedAt: expect.any(String) as unknown });
    // Gateways forget the key when the revocation event arrives over Redis: poll, do not sleep.
    await expect.poll(async () => (await toolsList(b.adminKey.secret)).status, { timeout: 10_000, interval: 100 }).toBe(401);
    expect((await toolsList(b.ownerKey.secret)).status).toBe(200);
  });

  it('rotates a key: a new secret that works, the previous one kept for the overlap', async () => {
    const { a } = tenants;
    const rotated = await json<RotatedKey>(['key', 'rotate', a.org.id, a.ownerKey.key.id, '--overlap-seconds', '60']);
    expect(rotated.key).toMatchObject({ status: 'active', rotatedFrom: a.ownerKey.key.id });
    expect(rotated.previous).toMatchObject({ id: a.ownerKey.key.id, expiresAt: expect.any(String) as unknown });
    expect(rotated.secret).not.toBe(a.ownerKey.secret);
    expect((await toolsList(rotated.secret)).status).toBe(200);
  });

  it('changes the plan with org plan (local billing mode), visible in org get and org subscription, and renames', async () => {
    const { a } = tenants;
    expect(await json(['org', 'plan', a.org.id, 'pro'])).toMatchObject({ status: 'completed', orgId: a.org.id, from: 'free', to: 'pro', applied: 'now' });
    expect(await json<Org>(['org', 'get', a.org.id])).toMatchObject({ plan: { id: 'pro', name: 'Pro' } });
    const human = await cli(['org', 'get', a.org.id]);
    expect(human.stdout).toMatch(/plan\s+pro \(Pro\)/);
    // A downgrade waits for the period's end, and can be called off.
    expect((await cli(['org', 'plan', a.org.id, 'free'])).stdout).toMatch(/moves from pro to free when the period ends/);
    expect(await json(['org', 'subscription', a.org.id])).toMatchObject({ plan: { id: 'pro' }, pendingPlan: { id: 'free' }, billing: { mode: 'local', stripeSubscriptionId: null } });
    expect(await json(['org', 'cancel-downgrade', a.org.id])).toMatchObject({ status: 'completed', to: 'pro', pendingPlanId: null });
    expect((await cli(['org', 'subscription', a.org.id])).stdout).toMatch(/pending\s+none/);
    const renamed = await json<Org>(['org', 'rename', a.org.id, '--name', `CLI Org a renamed ${RUN}`]);
    expect(renamed.name).toBe(`CLI Org a renamed ${RUN}`);
  });

  it('changes a role and removes a member, whose keys are revoked', async () => {
    const { a } = tenants;
    expect(await json<Member>(['member', 'role', a.org.id, a.admin.userId, 'member'])).toMatchObject({ userId: a.admin.userId, role: 'member' });
    expect(await json(['member', 'remove', a.org.id, a.admin.userId])).toEqual({ removed: { orgId: a.org.id, userId: a.admin.userId } });
    const { members } = await json<{ members: Member[] }>(['member', 'list', a.org.id]);
    expect(members.map((m) => m.userId)).not.toContain(a.admin.userId);
    const { keys } = await json<{ keys: Key[] }>(['key', 'list', a.org.id]);
    expect(keys.find((k) => k.id === a.adminKey.key.id)?.status).toBe('revoked');
    await expect.poll(async () => (await toolsList(a.adminKey.secret)).status, { timeout: 10_000, interval: 100 }).toBe(401);
  });

  it("reports an organization's usage as JSON and as a table, and refuses a malformed date", async () => {
    const usage = await json<{ totals: { calls: number }; days: unknown[]; from: string; to: string }>(['usage', 'show', tenants.b.org.id, '--from', '2026-01-01', '--to', '2026-01-31']);
    expect(usage).toMatchObject({ from: '2026-01-01', to: '2026-01-31', totals: { calls: 0 }, days: [] });
    const table = await cli(['usage', 'show', tenants.b.org.id]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^usage \d{4}-\d{2}-\d{2} … \d{4}-\d{2}-\d{2}/);
    const bad = await cli(['usage', 'show', tenants.b.org.id, '--from', 'yesterday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('INVALID_INPUT');
  });

  it('shows the changes in the audit log, with the staff member as actor', async () => {
    const { entries } = await json<{ entries: AuditEntry[] }>(['audit', 'list', '--org', tenants.b.org.id, '--limit', '50']);
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['organization.create', 'member.add', 'key.create', 'key.revoke']));
    for (const e of entries) expect(e.actor).toEqual({ type: 'staff', id: staff.staffId });
    const platform = await cli(['audit', 'list', '--limit', '5']);
    expect(platform.code).toBe(0);
    expect(platform.stdout).toMatch(/^ID\s+TIME\s+ORG\s+ACTOR\s+ACTION/);
  });
});

describe('users and plans', () => {
  it('creates a user once and finds it by id and email', async () => {
    const user = await json<User>(['user', 'create', '--email', email('solo'), '--name', 'Solo User']);
    expect(user).toMatchObject({ id: expect.stringMatching(/^usr_/) as unknown, personalOrgId: expect.stringMatching(/^org_/) as unknown });
    const again = await cli(['user', 'create', '--email', email('solo'), '--name', 'Solo User']);
    expect(again.stdout).toContain(`${user.id}  Solo User <${email('solo')}>  (already existed)`);
    expect(await json<User>(['user', 'get', user.id])).toEqual(user);
  });

  it('creates a plan of its own from a file and edits it with dotted --set paths and shortcuts', async () => {
    const id = `cli-${Date.now().toString(36)}-${process.pid}`.slice(0, 32);
    const { plans } = await json<{ plans: Plan[] }>(['plan', 'list']);
    const free = plans.find((p) => p.id === 'free')!;
    const file = join(workDir, 'plan.json');
    // No catalog tool declares a new plan, so it must list its tools.
    await writeFile(file, JSON.stringify({ ...free, id, name: `CLI plan ${RUN}`.slice(0, 80), rank: 40, allowedTools: ['text_stats'] }));
    expect(await json<Plan>(['plan', 'create', '--file', file])).toMatchObject({ id, limits: free.limits, allowedTools: ['text_stats'] });

    const updated = await json<Plan>([
      'plan', 'update', id,
      '--set', 'limits.perKey.perMinute=7',
      '--set', 'limits.burst.max=3',
      '--quota-policy', 'soft',
      '--cache-ttl', '30',
      '--allowed-tools', 'text_stats,count_primes',
    ]);
    expect(updated).toMatchObject({ id, quotaPolicy: 'soft', cacheTtlSeconds: 30, allowedTools: ['text_stats', 'count_primes'] });
    expect(updated.limits).toEqual({ ...free.limits, perKey: { perMinute: 7 }, burst: { ...free.limits.burst, max: 3 } });
    const human = await cli(['plan', 'update', id, '--name', `CLI plan renamed ${RUN}`.slice(0, 80)]);
    expect(human.stdout).toMatch(/limits\.perKey\.perMinute\s+7\n/);
    expect(human.stdout).toMatch(/allowedTools\s+text_stats,count_primes\n/);
  });

  it('refuses a plan edit the API rejects with INVALID_INPUT, and a conflicting edit locally with exit 2', async () => {
    const id = `cli-bad-${process.pid}`;
    const refused = await cli(['plan', 'update', id, '--set', 'limits.perKey.perMinute=-1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error INVALID_INPUT: /);
    const conflicting = await cli(['plan', 'update', id, '--set', 'name=A', '--name', 'B']);
    expect(conflicting.code).toBe(2);
    expect(conflicting.stderr).toMatch(/name is given twice\nusage: npm run admin -- plan update <planId>/);
  });
});

describe('failures', () => {
  it('reports an unknown organization as NOT_FOUND with the request id, exit 1, nothing on stdout', async () => {
    const r = await cli(['org', 'get', newId('org'), '--json']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/^error NOT_FOUND: no such organization \(request req_\w+\)\n$/);
  });

  it('reports a malformed id as INVALID_INPUT, exit 1', async () => {
    const r = await cli(['org', 'get', 'not-an-org']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error INVALID_INPUT: .*organization id.* \(request req_\w+\)\n$/);
  });

  it('reports a bad staff token as UNAUTHENTICATED, exit 1, without echoing it', async () => {
    const bad = `tgs_${'2'.repeat(12)}_${'3'.repeat(32)}`;
    const r = await cli(['org', 'list'], { TOLLGATE_STAFF_TOKEN: bad });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error UNAUTHENTICATED: /);
    expect(r.stdout + r.stderr).not.toContain(bad);
  });

  it('accepts --token in place of the environment variable', async () => {
    const r = await cli(['plan', 'list', '--token', staff.token], { TOLLGATE_STAFF_TOKEN: '' });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/^ID\s+NAME\s+RANK/);
  });

  it('exits 2 with a usage line for an unknown command or a missing argument, and 0 for help', async () => {
    const unknown = await cli(['frobnicate']);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'\nusage: npm run admin -- <command>/);
    const missing = await cli(['org', 'get']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('error: missing <orgId>\nusage: npm run admin -- org get <orgId>\n');
    const help = await cli(['help']);
    expect(help.code).toBe(0);
    for (const command of ['staff create', 'plan update <planId>', 'org plan <orgId> <planId>', 'key rotate <orgId> <keyId>', 'audit list']) expect(help.stdout).toContain(command);
  });

  it('names the URL when the admin API is unreachable, exit 1', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const url = `http://127.0.0.1:${closedPort}`;
    const r = await cli(['org', 'list'], { TOLLGATE_ADMIN_URL: url });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot reach the admin API at ${url} (ECONNREFUSED): is the gateway running? Set TOLLGATE_ADMIN_URL to its admin listener.\n`);
  });
});
