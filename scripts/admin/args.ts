import { parseArgs } from 'node:util';
import { redactSecrets, UsageError } from './errors.js';

/** How an option is spelled: `--x value`, `--x` alone, or `--x value` repeatable. */
export type OptionKind = 'string' | 'boolean' | 'multi';

/** The static part of a command: its words, arguments and options, and how to explain it. */
export interface CommandShape {
  /** The command words, e.g. `org list`. */
  readonly name: string;
  /** Positional arguments, all required, in order. */
  readonly args: readonly string[];
  readonly options: Readonly<Record<string, OptionKind>>;
  readonly required?: readonly string[];
  /** Everything after the command words, e.g. `<orgId> --name <name>`. */
  readonly usage: string;
  readonly summary: string;
}

/** Options every command accepts, before or after the command words. */
export interface GlobalOptions {
  json: boolean;
  help: boolean;
  token: string | undefined;
}

export const usageLine = (c: CommandShape) => `usage: npm run admin -- ${c.name}${c.usage ? ` ${c.usage}` : ''}`;

/**
 * Splits `[globals] <group> [<action>] [rest…]`. Global options may lead so that
 * `admin --json org list` works as well as `admin org list --json`.
 */
export function splitInvocation(argv: readonly string[]): { globals: GlobalOptions; words: string[]; rest: string[] } {
  const globals: GlobalOptions = { json: false, help: false, token: undefined };
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const a = argv[i]!;
    if (a === '--json') globals.json = true;
    else if (a === '--help' || a === '-h') globals.help = true;
    else if (a === '--token') {
      globals.token = argv[++i];
      if (globals.token === undefined) throw new UsageError("option '--token <value>' needs a value");
    }
    else if (a.startsWith('--token=')) globals.token = a.slice('--token='.length);
    else throw new UsageError(`unknown option '${redactSecrets(a)}' before the command`);
  }
  const words: string[] = [];
  while (words.length < 2 && i < argv.length && !argv[i]!.startsWith('-')) words.push(argv[i++]!);
  return { globals, words, rest: argv.slice(i) };
}

/** What a command's `run` receives: named arguments and typed accessors for its options. */
export class CommandInput {
  constructor(
    readonly args: Readonly<Record<string, string>>,
    private readonly values: Readonly<Record<string, unknown>>,
    /** The command's usage line, for errors found while building the request. */
    readonly usage: string,
  ) {}

  arg(name: string): string {
    const v = this.args[name];
    if (v === undefined) throw new UsageError(`missing <${name}>`, this.usage);
    return v;
  }
  str(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }
  need(name: string): string {
    const v = this.str(name);
    if (v === undefined) throw new UsageError(`missing --${name}`, this.usage);
    return v;
  }
  flag(name: string): boolean {
    return this.values[name] === true;
  }
  list(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  }
  /** An integer option; a typo fails here with a usage error instead of reaching the API as NaN. */
  int(name: string): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`--${name} must be an integer, got '${redactSecrets(v)}'`, this.usage);
    return Number(v);
  }
  /** A comma-separated list option (`--scopes mcp,account`). */
  csv(name: string): string[] | undefined {
    return this.str(name)
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
}

/** Parses what follows the command words against the command's shape (plus the global options). */
export function parseCommandArgs(shape: CommandShape, rest: readonly string[], globals: GlobalOptions): CommandInput {
  const usage = usageLine(shape);
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    token: { type: 'string' },
  };
  for (const [name, kind] of Object.entries(shape.options)) options[name] = kind === 'multi' ? { type: 'string', multiple: true } : { type: kind };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs explains at length how to pass a dash-led positional; the first sentence is the point.
    const first = (err as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '');
    throw new UsageError(redactSecrets(first), usage);
  }
  const { values, positionals } = parsed;
  globals.json ||= values.json === true;
  globals.help ||= values.help === true;
  if (typeof values.token === 'string') globals.token = values.token;
  if (globals.help) return new CommandInput({}, values, usage);

  if (positionals.length > shape.args.length) throw new UsageError(`unexpected argument '${redactSecrets(positionals[shape.args.length]!)}'`, usage);
  if (positionals.length < shape.args.length) throw new UsageError(`missing <${shape.args[positionals.length]!}>`, usage);
  for (const name of shape.required ?? []) if (values[name] === undefined) throw new UsageError(`missing --${name}`, usage);
  const args = Object.fromEntries(shape.args.map((name, i) => [name, positionals[i]!]));
  return new CommandInput(args, values, usage);
}
