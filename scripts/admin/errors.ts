/**
 * The three ways a CLI run fails, each with its own exit code and stderr shape, so that
 * scripts driving the CLI can tell "you called me wrong" (2) from "it did not work" (1).
 */

/** The invocation is wrong: unknown command, missing argument, bad option value. Exit 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The usage line of the command concerned, when there is one. */
    readonly usage?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The admin API answered with its error shape `{ error: { code, message, requestId } }`. Exit 1. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    readonly status: number,
    /** A second line for the operator when the error points at a likely misconfiguration. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Anything else that stops the command: the API is unreachable, Postgres refuses, a file is missing. Exit 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * Hides anything shaped like a staff token or an API key. Error and usage messages may echo
 * what the operator typed, and a token pasted in the wrong place must not end up in a
 * terminal scrollback or a CI log.
 */
export function redactSecrets(text: string): string {
  return text.replace(/\btgs?_[1-9A-HJ-NP-Za-km-z]{4,}(?:_[1-9A-HJ-NP-Za-km-z]+)?/g, (m) => `${m.slice(0, m.indexOf('_') + 1)}[redacted]`);
}
