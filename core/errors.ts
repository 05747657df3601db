/**
 * One error registry, projected onto HTTP statuses, JSON-RPC codes and Temporal failure
 * types. `code` is the stable contract clients and operators key on; messages may change.
 *
 * Custom JSON-RPC codes sit in the server range -32000..-32099, away from the SDK's own
 * -32000/-32001/-32042 and the 2026 revision's -32020..-32022.
 */
export interface ErrorSpec {
  /** HTTP status on the REST APIs and on Streamable HTTP refusals made before MCP dispatch. */
  readonly http: number;
  /** JSON-RPC error code when the refusal travels as a JSON-RPC error. */
  readonly rpc: number;
  /** Whether the same request may succeed later without change (drives Temporal retries). */
  readonly retryable: boolean;
  /** Whether the message is safe to show the caller; unexposed errors say "internal error". */
  readonly expose: boolean;
}

export const ERRORS = {
  /** The request body, arguments or parameters failed validation. */
  INVALID_INPUT: { http: 400, rpc: -32602, retryable: false, expose: true },
  /** The body is larger than the endpoint accepts. */
  PAYLOAD_TOO_LARGE: { http: 413, rpc: -32600, retryable: false, expose: true },
  /** No credentials, or credentials that do not resolve to an active key or staff token. */
  UNAUTHENTICATED: { http: 401, rpc: -32051, retryable: false, expose: true },
  /** Authenticated, but the role, plan or scope does not allow this operation. */
  FORBIDDEN: { http: 403, rpc: -32052, retryable: false, expose: true },
  /** The tool exists but the caller's plan does not include it. */
  TOOL_NOT_IN_PLAN: { http: 403, rpc: -32052, retryable: false, expose: true },
  /** No such resource visible to the caller (also used for other tenants' ids). */
  NOT_FOUND: { http: 404, rpc: -32055, retryable: false, expose: true },
  /** No tool of that name exists at all. */
  TOOL_NOT_FOUND: { http: 404, rpc: -32602, retryable: false, expose: true },
  /** The request conflicts with current state (duplicate name, already revoked, ...). */
  CONFLICT: { http: 409, rpc: -32058, retryable: false, expose: true },
  /** A rate, burst, concurrency or pool limit refused the call; retry after `retryAfterMs`. */
  RATE_LIMITED: { http: 429, rpc: -32053, retryable: true, expose: true },
  /** A daily or monthly quota is used up; Retry-After is the time to reset. */
  QUOTA_EXCEEDED: { http: 429, rpc: -32054, retryable: false, expose: true },
  /** A payment failed (card declined). */
  PAYMENT_DECLINED: { http: 402, rpc: -32057, retryable: false, expose: true },
  /** A dependency (Redis, Postgres, Temporal, Stripe) is unavailable right now. */
  UPSTREAM_UNAVAILABLE: { http: 503, rpc: -32056, retryable: true, expose: false },
  /** The platform cannot admit the call right now (overload shedding, admission store down); retry later. */
  SERVICE_UNAVAILABLE: { http: 503, rpc: -32060, retryable: true, expose: true },
  /** The tool ran and failed; the message is sanitized. */
  TOOL_FAILED: { http: 500, rpc: -32059, retryable: false, expose: true },
  /** The call was cancelled by the caller. */
  CANCELLED: { http: 499, rpc: -32800, retryable: false, expose: true },
  /** A bug or an unexpected failure; never exposes its message. */
  INTERNAL: { http: 500, rpc: -32603, retryable: true, expose: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Temporal failure types that must not be retried, derived from the registry. */
export const NON_RETRYABLE_CODES: readonly ErrorCode[] = (Object.keys(ERRORS) as ErrorCode[]).filter(
  (code) => !ERRORS[code].retryable,
);

const BRAND = Symbol.for('tollgate.AppError');

/** An error with a registry code. Only the edges (HTTP, JSON-RPC, activities) turn it into wire shapes. */
export class AppError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
    this.name = `AppError(${code})`;
  }
}

/** Brand check that works across module copies and the workflow sandbox. */
export function isAppError(e: unknown): e is AppError {
  return typeof e === 'object' && e !== null && BRAND in e;
}

/** The message a caller may see for `e`: its own when exposable, "internal error" otherwise. */
export function publicMessage(e: unknown): string {
  if (isAppError(e) && isErrorCode(e.code) && ERRORS[e.code].expose) return e.message;
  return 'internal error';
}

/** Whether `code` is in the registry (an error from another build of the code may carry an unknown one). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
