import { describe, expect, it } from 'vitest';
import { AppError } from '../../../core/errors.js';
import { errorResponse, httpStatusOf, retryAfterSeconds, toWireError } from './to-wire-error.js';

describe('toWireError', () => {
  it('projects an exposed AppError with its message, details, code and request id', () => {
    const err = new AppError('RATE_LIMITED', 'per-key rate limit reached', { retryAfterMs: 1_200, limit: 'perKey' });
    expect(toWireError(err, 'req_abc')).toEqual({
      code: -32053,
      message: 'per-key rate limit reached',
      data: { retryAfterMs: 1_200, limit: 'perKey', code: 'RATE_LIMITED', requestId: 'req_abc' },
    });
  });

  it('does not let details override the stable code or the request id', () => {
    const err = new AppError('FORBIDDEN', 'no', { code: 'SOMETHING_ELSE', requestId: 'forged' });
    expect(toWireError(err, 'req_real').data).toMatchObject({ code: 'FORBIDDEN', requestId: 'req_real' });
  });

  it('hides the message and details of an unexposed AppError', () => {
    const err = new AppError('UPSTREAM_UNAVAILABLE', 'redis at 10.1.2.3:6379 refused', { host: '10.1.2.3' });
    expect(toWireError(err, 'req_1')).toEqual({
      code: -32056,
      message: 'internal error',
      data: { code: 'UPSTREAM_UNAVAILABLE', requestId: 'req_1' },
    });
  });

  it('turns unknown errors into INTERNAL without leaking anything', () => {
    for (const err of [new Error('password=hunter2'), 'raw string', { message: 'object' }, null, undefined]) {
      expect(toWireError(err, 'req_2')).toEqual({ code: -32603, message: 'internal error', data: { code: 'INTERNAL', requestId: 'req_2' } });
    }
  });

  it('uses the JSON-RPC code of the registry entry', () => {
    expect(toWireError(new AppError('INVALID_INPUT', 'bad'), 'r').code).toBe(-32602);
    expect(toWireError(new AppError('CANCELLED', 'cancelled'), 'r').code).toBe(-32800);
  });
});

describe('errorResponse', () => {
  it('wraps the wire error in a JSON-RPC response for the id', () => {
    expect(errorResponse(7, new AppError('NOT_FOUND', 'no such call'), 'req_3')).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32055, message: 'no such call', data: { code: 'NOT_FOUND', requestId: 'req_3' } },
    });
    expect(errorResponse(null, new Error('x'), 'req_4').id).toBeNull();
  });
});

describe('retryAfterSeconds', () => {
  it.each([
    [1, 1],
    [999, 1],
    [1_000, 1],
    [1_001, 2],
    [1_500, 2],
    [59_999, 60],
    [0, 1],
  ])('rounds %i ms up to %i s', (ms, seconds) => {
    expect(retryAfterSeconds(new AppError('RATE_LIMITED', 'wait', { retryAfterMs: ms }))).toBe(seconds);
  });

  it('is undefined without a numeric retryAfterMs', () => {
    expect(retryAfterSeconds(new AppError('RATE_LIMITED', 'wait'))).toBeUndefined();
    expect(retryAfterSeconds(new AppError('RATE_LIMITED', 'wait', { retryAfterMs: '1000' }))).toBeUndefined();
    expect(retryAfterSeconds(new Error('x'))).toBeUndefined();
  });
});

describe('httpStatusOf', () => {
  it('uses the registry status for AppErrors and 500 for anything else', () => {
    expect(httpStatusOf(new AppError('UNAUTHENTICATED', 'who?'))).toBe(401);
    expect(httpStatusOf(new AppError('QUOTA_EXCEEDED', 'used up'))).toBe(429);
    expect(httpStatusOf(new AppError('PAYLOAD_TOO_LARGE', 'big'))).toBe(413);
    expect(httpStatusOf(new AppError('CANCELLED', 'bye'))).toBe(499);
    expect(httpStatusOf(new Error('boom'))).toBe(500);
    expect(httpStatusOf(undefined)).toBe(500);
  });
});
