import { ERRORS, isAppError, isErrorCode, publicMessage, type ErrorCode } from '../../../core/errors.js';

/** A JSON-RPC error object: `data.code` is the stable contract, `data.requestId` the support handle. */
export interface WireError {
  readonly code: number;
  readonly message: string;
  readonly data: { readonly code: ErrorCode; readonly requestId: string } & Readonly<Record<string, unknown>>;
}

/** Projects any error onto a JSON-RPC error; unknown errors become INTERNAL with no detail. */
export function toWireError(err: unknown, requestId: string): WireError {
  if (isAppError(err) && isErrorCode(err.code)) {
    const spec = ERRORS[err.code];
    const details = spec.expose ? err.details : {};
    return { code: spec.rpc, message: publicMessage(err), data: { ...details, code: err.code, requestId } };
  }
  return { code: ERRORS.INTERNAL.rpc, message: 'internal error', data: { code: 'INTERNAL', requestId } };
}

export function httpStatusOf(err: unknown): number {
  return isAppError(err) && isErrorCode(err.code) ? ERRORS[err.code].http : 500;
}

/** A whole JSON-RPC error response for `id`. */
export function errorResponse(id: string | number | null, err: unknown, requestId: string) {
  return { jsonrpc: '2.0' as const, id, error: toWireError(err, requestId) };
}

/** `Retry-After` seconds for refusals that carry `retryAfterMs`. */
export function retryAfterSeconds(err: unknown): number | undefined {
  if (!isAppError(err)) return undefined;
  const ms = err.details.retryAfterMs;
  return typeof ms === 'number' ? Math.max(1, Math.ceil(ms / 1000)) : undefined;
}
