import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import type { CommandInput, CommandShape } from './args.js';
import { apiPath, type AdminClient } from './client.js';
import { CliError, UsageError } from './errors.js';
import type { Printer } from './output.js';
import { applyAssignments, setPath, type PatchObject } from './patch.js';
import * as show from './render.js';
import { staffCreate } from './staff.js';

/** What a command produced: the body `--json` prints, and how to print it for people. */
export interface Result {
  readonly body: unknown;
  show(out: Printer): void;
  /** A warning for the operator, printed on stderr in both modes (stdout stays parseable). */
  readonly notice?: string;
}

export interface RunContext {
  /** The admin API client; built on first use, so `staff create` needs no token or URL. */
  readonly api: () => AdminClient;
}

export interface Command extends CommandShape {
  run(input: CommandInput, ctx: RunContext): Promise<Result>;
}

const result = <T>(body: T, render: (out: Printer, body: T) => void): Result => ({ body, show: (out) => render(out, body) });

/**
 * The command table: one entry per admin API route (plus the database-side bootstrap).
 * Each command validates its input before calling `api()`, so a usage mistake is reported
 * as such even when no token is set.
 */
export const COMMANDS: readonly Command[] = [
  staffCreate,

  // Plans
  {
    name: 'plan list',
    args: [],
    options: {},
    usage: '',
    summary: 'List every plan with its limits.',
    run: async (_, { api }) => result((await api().get<{ plans: show.Plan[] }>(apiPath`/plans`)).body, (out, b) => show.showPlans(out, b.plans)),
  },
  {
    name: 'plan create',
    args: [],
    options: { file: 'string' },
    required: ['file'],
    usage: '--file <plan.json | ->',
    summary: 'Create a plan from a full Plan JSON document (- reads standard input).',
    run: async (input, { api }) => {
      const plan = await readPlanFile(input.need('file'));
      return result((await api().post<show.Plan>(apiPath`/plans`, plan)).body, show.showPlan);
    },
  },
  {
    name: 'plan update',
    args: ['planId'],
    options: { name: 'string', set: 'multi', 'quota-policy': 'string', 'cache-ttl': 'string', 'allowed-tools': 'string', 'allowed-tools-default': 'boolean' },
    usage: '<planId> [--name <n>] [--set limits.perKey.perMinute=10 ...] [--quota-policy block|soft|overage] [--cache-ttl N] [--allowed-tools a,b | --allowed-tools-default]',
    summary: 'Edit a plan; gateways apply it within seconds. --set values are JSON when they parse.',
    run: async (input, { api }) => {
      const patch = planPatch(input);
      return result((await api().patch<show.Plan>(apiPath`/plans/${input.arg('planId')}`, patch)).body, show.showPlan);
    },
  },

  // Organizations
  {
    name: 'org list',
    args: [],
    options: { limit: 'string', after: 'string', search: 'string' },
    usage: '[--limit N] [--after org_…] [--search <text>]',
    summary: 'List organizations by id, a page at a time.',
    run: async (input, { api }) => {
      const query = { limit: input.int('limit'), after: input.str('after'), search: input.str('search') };
      return result((await api().get<{ organizations: show.Org[]; next: string | null }>(apiPath`/orgs`, query)).body, show.showOrgs);
    },
  },
  {
    name: 'org create',
    args: [],
    options: { name: 'string', 'owner-email': 'string', 'owner-name': 'string', plan: 'string' },
    required: ['name', 'owner-email'],
    usage: '--name <n> --owner-email <e> [--owner-name <n>] [--plan <planId>]',
    summary: 'Create an organization with its owner (the owner user is created if new).',
    run: async (input, { api }) => {
      const body = { name: input.need('name'), plan: input.str('plan'), owner: { email: input.need('owner-email'), name: input.str('owner-name') } };
      return result((await api().post<show.Org>(apiPath`/orgs`, body)).body, show.showOrg);
    },
  },
  {
    name: 'org get',
    args: ['orgId'],
    options: {},
    usage: '<orgId>',
    summary: 'Show an organization, its plan and subscription.',
    run: async (input, { api }) => result((await api().get<show.Org>(apiPath`/orgs/${input.arg('orgId')}`)).body, show.showOrg),
  },
  {
    name: 'org rename',
    args: ['orgId'],
    options: { name: 'string' },
    required: ['name'],
    usage: '<orgId> --name <n>',
    summary: 'Rename an organization.',
    run: async (input, { api }) => result((await api().patch<show.Org>(apiPath`/orgs/${input.arg('orgId')}`, { name: input.need('name') })).body, show.showOrg),
  },
  {
    name: 'org plan',
    args: ['orgId', 'planId'],
    options: { now: 'boolean', wait: 'string' },
    usage: '<orgId> <planId> [--now] [--wait <ms>]',
    summary: "Change the plan: an upgrade applies at once (prorated), a downgrade at the period's end (--now: at once either way). Prints the outcome, or the change id to follow.",
    run: async (input, { api }) => {
      const body = { plan: input.arg('planId'), when: input.flag('now') ? 'now' : 'default' };
      const res = await api().put<show.PlanChange>(apiPath`/orgs/${input.arg('orgId')}/plan`, body, { wait: input.int('wait') });
      return result(res.body, show.showPlanChange);
    },
  },
  {
    name: 'org plan-change',
    args: ['orgId', 'changeId'],
    options: { wait: 'string' },
    usage: '<orgId> <chg_…> [--wait <ms>]',
    summary: 'Follow a plan change that was still running when `org plan` returned.',
    run: async (input, { api }) =>
      result((await api().get<show.PlanChange>(apiPath`/orgs/${input.arg('orgId')}/plan-changes/${input.arg('changeId')}`, { wait: input.int('wait') })).body, show.showPlanChange),
  },
  {
    name: 'org cancel-downgrade',
    args: ['orgId'],
    options: {},
    usage: '<orgId>',
    summary: "Cancel a downgrade waiting for the period's end.",
    run: async (input, { api }) => result((await api().delete<show.PlanChange>(apiPath`/orgs/${input.arg('orgId')}/pending-plan`)).body, show.showPlanChange),
  },
  {
    name: 'org subscription',
    args: ['orgId'],
    options: {},
    usage: '<orgId>',
    summary: 'Show the subscription: plan, period, pending change, grace period, Stripe ids and closed periods.',
    run: async (input, { api }) => result((await api().get<show.Subscription>(apiPath`/orgs/${input.arg('orgId')}/subscription`)).body, show.showSubscription),
  },

  // Members
  {
    name: 'member list',
    args: ['orgId'],
    options: {},
    usage: '<orgId>',
    summary: "List an organization's members.",
    run: async (input, { api }) => result((await api().get<{ members: show.Member[] }>(apiPath`/orgs/${input.arg('orgId')}/members`)).body, (out, b) => show.showMembers(out, b.members)),
  },
  {
    name: 'member add',
    args: ['orgId'],
    options: { email: 'string', name: 'string', role: 'string' },
    required: ['email'],
    usage: '<orgId> --email <e> [--name <n>] [--role owner|admin|member]',
    summary: 'Add a user (created if new) to an organization; role defaults to member.',
    run: async (input, { api }) => {
      const body = { email: input.need('email'), name: input.str('name'), role: input.str('role') };
      return result((await api().post<show.Member>(apiPath`/orgs/${input.arg('orgId')}/members`, body)).body, (out, m) => show.showMember(out, m, 'added'));
    },
  },
  {
    name: 'member role',
    args: ['orgId', 'userId', 'role'],
    options: {},
    usage: '<orgId> <userId> owner|admin|member',
    summary: "Change a member's role.",
    run: async (input, { api }) => {
      const path = apiPath`/orgs/${input.arg('orgId')}/members/${input.arg('userId')}`;
      return result((await api().patch<show.Member>(path, { role: input.arg('role') })).body, (out, m) => show.showMember(out, m, 'changed'));
    },
  },
  {
    name: 'member remove',
    args: ['orgId', 'userId'],
    options: {},
    usage: '<orgId> <userId>',
    summary: 'Remove a member; their keys in that organization are revoked.',
    run: async (input, { api }) => {
      const [orgId, userId] = [input.arg('orgId'), input.arg('userId')];
      await api().delete(apiPath`/orgs/${orgId}/members/${userId}`);
      // The API answers 204; --json still prints one document, saying what was done.
      return result({ removed: { orgId, userId } }, (out) => out.line(`removed ${userId} from ${orgId}`));
    },
  },

  // API keys
  {
    name: 'key list',
    args: ['orgId'],
    options: {},
    usage: '<orgId>',
    summary: "List an organization's API keys (public prefixes only, never secrets).",
    run: async (input, { api }) => result((await api().get<{ keys: show.Key[] }>(apiPath`/orgs/${input.arg('orgId')}/keys`)).body, (out, b) => show.showKeys(out, b.keys)),
  },
  {
    name: 'key create',
    args: ['orgId'],
    options: { user: 'string', name: 'string', scopes: 'string', 'expires-at': 'string' },
    required: ['user', 'name'],
    usage: '<orgId> --user <userId> --name <n> [--scopes mcp,account] [--expires-at <ISO 8601>]',
    summary: 'Issue an API key for a member; the secret is printed once.',
    run: async (input, { api }) => {
      const body = { userId: input.need('user'), name: input.need('name'), scopes: input.csv('scopes'), expiresAt: input.str('expires-at') };
      return result((await api().post<show.NewKey>(apiPath`/orgs/${input.arg('orgId')}/keys`, body)).body, (out, b) => show.showNewKey(out, b, 'created'));
    },
  },
  {
    name: 'key revoke',
    args: ['orgId', 'keyId'],
    options: {},
    usage: '<orgId> <keyId>',
    summary: 'Revoke a key; every gateway refuses it at once.',
    run: async (input, { api }) =>
      result((await api().post<show.Key>(apiPath`/orgs/${input.arg('orgId')}/keys/${input.arg('keyId')}/revoke`)).body, (out, k) => show.showKey(out, k, 'revoked')),
  },
  {
    name: 'key rotate',
    args: ['orgId', 'keyId'],
    options: { 'overlap-seconds': 'string' },
    usage: '<orgId> <keyId> [--overlap-seconds N]',
    summary: 'Issue a replacement key; the old one keeps working for the overlap (default 1 day).',
    run: async (input, { api }) => {
      const path = apiPath`/orgs/${input.arg('orgId')}/keys/${input.arg('keyId')}/rotate`;
      const body = { overlapSeconds: input.int('overlap-seconds') };
      return result((await api().post<show.RotatedKey>(path, body)).body, (out, b) => show.showNewKey(out, b, 'rotated to'));
    },
  },

  // Users
  {
    name: 'user create',
    args: [],
    options: { email: 'string', name: 'string' },
    required: ['email', 'name'],
    usage: '--email <e> --name <n>',
    summary: 'Create a user with a personal organization (an existing email is returned as is).',
    run: async (input, { api }) => {
      const { status, body } = await api().post<show.User>(apiPath`/users`, { email: input.need('email'), name: input.need('name') });
      return result(body, (out, u) => show.showUser(out, u, status === 200 ? '  (already existed)' : ''));
    },
  },
  {
    name: 'user get',
    args: ['userId'],
    options: {},
    usage: '<userId>',
    summary: 'Show a user and their memberships.',
    run: async (input, { api }) => result((await api().get<show.User>(apiPath`/users/${input.arg('userId')}`)).body, (out, u) => show.showUser(out, u)),
  },
  {
    name: 'user find',
    args: [],
    options: { email: 'string' },
    required: ['email'],
    usage: '--email <e>',
    summary: 'Find a user by email.',
    run: async (input, { api }) => result((await api().get<show.User>(apiPath`/users`, { email: input.need('email') })).body, (out, u) => show.showUser(out, u)),
  },

  // Usage
  {
    name: 'usage show',
    args: ['orgId'],
    options: { from: 'string', to: 'string', user: 'string' },
    usage: '<orgId> [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--user <userId>]',
    summary: "An organization's usage per day, user and tool (UTC days; the last 30 by default).",
    run: async (input, { api }) => {
      const query = { from: input.str('from'), to: input.str('to'), userId: input.str('user') };
      return result((await api().get<show.Usage>(apiPath`/orgs/${input.arg('orgId')}/usage`, query)).body, (out, u) => show.showUsage(out, u));
    },
  },

  // Audit
  {
    name: 'audit list',
    args: [],
    options: { org: 'string', limit: 'string', before: 'string' },
    usage: '[--org <orgId>] [--limit N] [--before <entryId>]',
    summary: 'The audit log, newest first: the whole platform, or one organization.',
    run: async (input, { api }) => {
      const org = input.str('org');
      const query = { limit: input.int('limit'), before: input.str('before') };
      const path = org === undefined ? apiPath`/audit` : apiPath`/orgs/${org}/audit`;
      return result((await api().get<{ entries: show.AuditEntry[] }>(path, query)).body, (out, b) => show.showAudit(out, b.entries));
    },
  },
];

/** The PATCH body of `plan update`: dotted `--set` assignments plus the named shortcuts. */
function planPatch(input: CommandInput): PatchObject {
  const patch = applyAssignments({}, input.list('set'), input.usage);
  const put = (path: string, value: unknown) => value !== undefined && setPath(patch, path, value, input.usage);
  put('name', input.str('name'));
  put('quotaPolicy', input.str('quota-policy'));
  put('cacheTtlSeconds', input.int('cache-ttl'));
  if (input.str('allowed-tools') !== undefined && input.flag('allowed-tools-default')) {
    throw new UsageError('give --allowed-tools or --allowed-tools-default, not both', input.usage);
  }
  put('allowedTools', input.csv('allowed-tools'));
  if (input.flag('allowed-tools-default')) put('allowedTools', null);
  if (Object.keys(patch).length === 0) throw new UsageError('nothing to change', input.usage);
  return patch;
}

async function readPlanFile(file: string): Promise<unknown> {
  let raw: string;
  try {
    raw = file === '-' ? await text(process.stdin) : await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new CliError(`${file === '-' ? 'standard input' : file} is not JSON: ${(err as Error).message}`);
  }
}
