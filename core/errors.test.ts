import { describe, expect, it } from 'vitest';
import { AppError, ERRORS, NON_RETRYABLE_CODES, isAppError, publicMessage, type ErrorCode } from './errors.js';

describe('NON_RETRYABLE_CODES', () => {
  it('lists exactly the codes the registry marks non-retryable', () => {
    const all = Object.keys(ERRORS) as ErrorCode[];
    expect([...NON_RETRYABLE_CODES].sort()).toEqual(all.filter((c) => !ERRORS[c].retryable).sort());
  });

  it('lets transient failures retry and stops on caller mistakes', () => {
    for (const code of ['RATE_LIMITED', 'UPSTREAM_UNAVAILABLE', 'INTERNAL'] as const) {
      expect(NON_RETRYABLE_CODES).not.toContain(code);
    }
    for (const code of ['INVALID_INPUT', 'UNAUTHENTICATED', 'TOOL_NOT_IN_PLAN', 'QUOTA_EXCEEDED', 'CANCELLED', 'TOOL_FAILED'] as const) {
      expect(NON_RETRYABLE_CODES).toContain(code);
    }
  });
});

describe('AppError', () => {
  it('carries its code, message, details and cause', () => {
    const cause = new Error('root');
    const e = new AppError('RATE_LIMITED', 'slow down', { retryAfterMs: 1200 }, { cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('RATE_LIMITED');
    expect(e.message).toBe('slow down');
    expect(e.details).toEqual({ retryAfterMs: 1200 });
    expect(e.cause).toBe(cause);
    expect(e.name).toBe('AppError(RATE_LIMITED)');
  });

  it('defaults to empty details', () => {
    expect(new AppError('NOT_FOUND', 'no such key').details).toEqual({});
  });
});

describe('isAppError', () => {
  it('recognises AppError instances', () => {
    expect(isAppError(new AppError('CONFLICT', 'taken'))).toBe(true);
  });

  it('recognises an object branded by another copy of the module', () => {
    const foreign = Object.assign(new Error('from the sandbox'), {
      code: 'FORBIDDEN',
      details: {},
      [Symbol.for('tollgate.AppError')]: true,
    });
    expect(isAppError(foreign)).toBe(true);
    expect(isAppError({ [Symbol.for('tollgate.AppError')]: true })).toBe(true);
  });

  it('rejects everything else', () => {
    expect(isAppError(new Error('plain'))).toBe(false);
    expect(isAppError({ code: 'FORBIDDEN', message: 'looks alike' })).toBe(false);
    expect(isAppError({ [Symbol('tollgate.AppError')]: true })).toBe(false);
    expect(isAppError(null)).toBe(false);
    expect(isAppError(undefined)).toBe(false);
    expect(isAppError('AppError')).toBe(false);
  });
});

describe('publicMessage', () => {
  it('shows an exposed error its own message', () => {
    expect(publicMessage(new AppError('INVALID_INPUT', 'to must be at least from'))).toBe('to must be at least from');
  });

  it('hides the message of unexposed errors', () => {
    expect(publicMessage(new AppError('INTERNAL', 'null pointer at db.ts:12'))).toBe('internal error');
    expect(publicMessage(new AppError('UPSTREAM_UNAVAILABLE', 'redis 10.0.0.3 refused'))).toBe('internal error');
  });

  it('hides the message of anything that is not an AppError', () => {
    expect(publicMessage(new Error('password=hunter2'))).toBe('internal error');
    expect(publicMessage('boom')).toBe('internal error');
    expect(publicMessage(undefined)).toBe('internal error');
  });
});
