import { ConfigError, loadConfig } from '../platform/config.js';
import { parseCommandArgs, splitInvocation, usageLine, type GlobalOptions } from './admin/args.js';
import { AdminClient } from './admin/client.js';
import { COMMANDS, type Command } from './admin/commands.js';
import { ApiError, CliError, redactSecrets, UsageError } from './admin/errors.js';
import { printHelp, printUsage } from './admin/help.js';
import { createPrinter, printJson, type Printer } from './admin/output.js';

/**
 * `npm run admin -- <command> [options]`: the operator's CLI. `staff create` bootstraps a
 * staff token straight in Postgres; every other command is a client of the admin API.
 * Exit status: 0 done, 1 the command failed, 2 the invocation is wrong.
 */
const GENERAL_USAGE = 'usage: npm run admin -- <command> [arguments] [--json]   (npm run admin -- help lists the commands)';

const stdout = createPrinter((s) => void process.stdout.write(s));
const stderr = createPrinter((s) => void process.stderr.write(s));
// `… | head` closes the pipe early; that is not a failure worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

async function main(argv: readonly string[]): Promise<number> {
  const { globals, words, rest } = splitInvocation(argv);
  if (words[0] === 'help' || (words.length === 0 && globals.help)) return help([...words.slice(1), ...rest].filter((w) => !w.startsWith('-')));
  if (words.length === 0) throw new UsageError('no command given', GENERAL_USAGE);

  const command = COMMANDS.find((c) => c.name === words.join(' '));
  if (!command) return unknownCommand(words, rest);
  const input = parseCommandArgs(command, rest, globals);
  if (globals.help) return describe(stdout, command);

  const result = await command.run(input, { api: once(() => adminClient(globals)) });
  if (globals.json) printJson((s) => void process.stdout.write(s), result.body);
  else result.show(stdout);
  if (result.notice) stderr.line(result.notice);
  return 0;
}

function help(topic: readonly string[]): number {
  const exact = COMMANDS.filter((c) => c.name === topic.join(' '));
  const matching = exact.length > 0 ? exact : COMMANDS.filter((c) => c.name.startsWith(`${topic[0]} `));
  if (topic.length === 0 || matching.length === 0) printHelp(stdout, COMMANDS);
  else printUsage(stdout, matching);
  return 0;
}

/** `admin org` or `admin org frobnicate`: show that noun's commands; an unknown noun gets the general usage. */
function unknownCommand(words: readonly string[], rest: readonly string[]): number {
  const group = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `));
  if (group.length > 0 && words.length === 1 && (rest.includes('--help') || rest.includes('-h'))) {
    printUsage(stdout, group);
    return 0;
  }
  const usage = group.length > 0 ? group.map(usageLine).join('\n') : GENERAL_USAGE;
  const what = words.length === 1 && group.length > 0 ? `'${words[0]}' needs a command` : `unknown command '${redactSecrets(words.join(' '))}'`;
  throw new UsageError(what, usage);
}

function describe(out: Printer, command: Command): number {
  out.line(usageLine(command));
  out.line(`  ${command.summary}`);
  return 0;
}

/** The API client from the environment. The token goes to the client and nowhere else. */
function adminClient(globals: GlobalOptions): AdminClient {
  const token = (globals.token ?? process.env.TOLLGATE_STAFF_TOKEN ?? '').trim();
  if (!token) throw new UsageError('no staff token: set TOLLGATE_STAFF_TOKEN (create one with npm run admin -- staff create --email <e> --name <n>)');
  // fetch would reject such a header with a message quoting it, i.e. quoting the token.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError('the staff token contains characters no token has (spaces, line breaks, non-ASCII)');
  return new AdminClient(process.env.TOLLGATE_ADMIN_URL?.trim() || `http://localhost:${adminPort()}`, token);
}

function adminPort(): number {
  try {
    return loadConfig().http.adminPort;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

function once<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}

/** One line (plus usage for usage errors) on stderr, and the exit status. */
function report(err: unknown): number {
  if (err instanceof UsageError) {
    stderr.line(`error: ${err.message}`);
    stderr.line(err.usage ?? GENERAL_USAGE);
    return 2;
  }
  if (err instanceof ApiError) {
    stderr.line(`error ${err.code}: ${redactSecrets(err.message)}${err.requestId ? ` (request ${err.requestId})` : ''}`);
    if (err.hint) stderr.line(`hint: ${err.hint}`);
    return 1;
  }
  if (err instanceof CliError) {
    stderr.line(`error: ${redactSecrets(err.message)}`);
    return 1;
  }
  stderr.line(`error: ${redactSecrets(err instanceof Error ? err.message : String(err))}`);
  return 1;
}

process.exitCode = await main(process.argv.slice(2)).catch(report);
