import { createHash } from 'node:crypto';
import { AppError } from '../../../core/errors.js';
import { BASE58 } from '../../../core/ids.js';

/** Where a client names a retryable call: `params._meta["io.tollgate/idempotencyKey"]` of `tools/call`. */
export const IDEMPOTENCY_META_KEY = 'io.tollgate/idempotencyKey';

const KEY = /^[\x21-\x7e]{1,200}$/;

/**
 * The call id of a `tools/call` that carries an idempotency key: derived from the
 * organization and the key, so a retried request names the same call — the same workflow
 * (`tool-call/<org>/<callId>`), the same leases and the same usage record — and never starts
 * a second run. Another organization's identical key names a different call. Undefined when
 * the request carries no key; a malformed key is refused.
 */
export function idempotentCallId(orgId: string, params: unknown): string | undefined {
  const meta = (params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  const key = meta?.[IDEMPOTENCY_META_KEY];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new AppError('INVALID_INPUT', `_meta["${IDEMPOTENCY_META_KEY}"] must be 1 to 200 printable ASCII characters without spaces`, { field: `_meta.${IDEMPOTENCY_META_KEY}` });
  }
  const digest = createHash('sha256').update(`${orgId}\0${key}`).digest();
  let n = BigInt(`0x${digest.toString('hex')}`);
  let out = '';
  while (out.length < 24) {
    out += BASE58[Number(n % 58n)];
    n /= 58n;
  }
  return `call_${out}`;
}
