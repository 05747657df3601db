import { usageLine, type CommandShape } from './args.js';
import type { Printer } from './output.js';

const GLOBAL_HELP: ReadonlyArray<readonly [string, string]> = [
  ['--json', 'print the response as one JSON document on stdout, nothing else (use npm run -s for jq)'],
  ['--token <t>', 'staff token; prefer TOLLGATE_STAFF_TOKEN, which keeps it out of shell history'],
  ['-h, --help', 'this list, or the usage of one command'],
];

const ENV_HELP: ReadonlyArray<readonly [string, string]> = [
  ['TOLLGATE_ADMIN_URL', 'admin API base URL (default http://localhost:$ADMIN_PORT)'],
  ['TOLLGATE_STAFF_TOKEN', 'staff token (tgs_…) for every command but staff create'],
  ['DATABASE_OWNER_URL', 'Postgres as the owner role, for staff create only'],
];

/** `admin help`: every command with its usage and a one-line summary, grouped by noun. */
export function printHelp(out: Printer, commands: readonly CommandShape[]): void {
  out.line('Tollgate admin CLI: manage plans, organizations, members, keys and users through the admin API.');
  out.line();
  out.line('usage: npm run admin -- <command> [arguments] [--json] [--token <t>]');
  out.line();
  out.line('Commands:');
  let group = '';
  for (const c of commands) {
    const noun = c.name.split(' ')[0]!;
    if (group && noun !== group) out.line();
    group = noun;
    out.line(`  ${c.name}${c.usage ? ` ${c.usage}` : ''}`);
    out.line(`      ${c.summary}`);
  }
  out.line();
  out.line('Options:');
  out.fields(GLOBAL_HELP);
  out.line();
  out.line('Environment:');
  out.fields(ENV_HELP);
  out.line();
  out.line('Exit status: 0 done, 1 the command failed (API error, unreachable), 2 usage error.');
}

/** The usage of one command, or of every command of a noun (`admin org`). */
export function printUsage(out: Printer, commands: readonly CommandShape[]): void {
  for (const c of commands) out.line(usageLine(c));
}
