import { ConfigError, loadConfig } from '../../platform/config.js';
import { createPool } from '../../platform/pg/pool.js';
import { createStaffWithToken } from '../../platform/tenancy/staff.js';
import { Email, SafeName } from '../../gateway/src/accounts/schemas.js';
import type { Command } from './commands.js';
import { CliError, UsageError } from './errors.js';

const MAX_DAYS = 3650;

/**
 * `staff create`: the bootstrap. Creating the first staff member cannot require a staff
 * member, so this one command talks to Postgres directly as the owner role
 * (DATABASE_OWNER_URL) instead of calling the admin API. Anyone who can run it already
 * holds the database owner's credentials.
 */
export const staffCreate: Command = {
  name: 'staff create',
  args: [],
  options: { email: 'string', name: 'string', 'token-name': 'string', 'expires-in-days': 'string' },
  required: ['email', 'name'],
  usage: '--email <e> --name <n> [--token-name <t>] [--expires-in-days N]',
  summary: 'Create a staff member (or reuse one by email) and issue a staff token, shown once. Uses DATABASE_OWNER_URL.',
  async run(input) {
    // The same rules as the API's, checked here because nothing else stands between this and the table.
    const email = Email.safeParse(input.need('email'));
    const name = SafeName.safeParse(input.need('name'));
    const tokenName = SafeName.safeParse(input.str('token-name') ?? 'admin-cli');
    if (!email.success) throw new UsageError('--email is not an email address', input.usage);
    if (!name.success) throw new UsageError(`--name ${name.error.issues[0]?.message ?? 'is invalid'}`, input.usage);
    if (!tokenName.success) throw new UsageError(`--token-name ${tokenName.error.issues[0]?.message ?? 'is invalid'}`, input.usage);
    const days = input.int('expires-in-days');
    if (days !== undefined && (days < 1 || days > MAX_DAYS)) throw new UsageError(`--expires-in-days must be between 1 and ${MAX_DAYS}`, input.usage);
    const expiresAt = days === undefined ? null : new Date(Date.now() + days * 86_400_000);

    const ownerUrl = ownerDatabaseUrl();
    const pool = createPool(ownerUrl, { max: 1, applicationName: 'tollgate-admin-cli' });
    try {
      const created = await createStaffWithToken(pool, { email: email.data, name: name.data, tokenName: tokenName.data, expiresAt }).catch((err: unknown) => {
        throw new CliError(`cannot create the staff token in ${redactUrl(ownerUrl)}: ${describePgError(err)}`);
      });
      const body = { staffId: created.staffId, tokenId: created.tokenId, token: created.token };
      return {
        body,
        // A notice on stderr in both modes: --json keeps stdout to the one document.
        notice: 'The staff token is shown once: store it now. Pass it as TOLLGATE_STAFF_TOKEN (keeps it out of shell history).',
        show(out) {
          out.line(`staff ${body.staffId} <${email.data}>, token ${body.tokenId}${expiresAt ? `, expires ${expiresAt.toISOString()}` : ''}`);
          out.line();
          out.line(`  Staff token (shown once): ${body.token}`);
        },
      };
    } finally {
      await pool.end();
    }
  },
};

function ownerDatabaseUrl(): string {
  try {
    return loadConfig().postgres.ownerUrl;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

/** The URL without its password, for messages. */
function redactUrl(raw: string): string {
  const url = new URL(raw);
  if (url.password) url.password = '***';
  return url.toString();
}

/** pg errors carry a code (ECONNREFUSED, 28P01, 42P01...); a missing table means migrations were not run. */
function describePgError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === '42P01') return 'the staff tables are missing: run `npm run migrate` first';
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND') return `Postgres is unreachable (${e.code})`;
  return e.code ? `${e.message ?? 'failed'} (${e.code})` : (e.message ?? String(err));
}
