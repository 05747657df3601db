import { expect } from 'vitest';

/**
 * Plain HTTP against the account (`/v1`) and admin (`/admin/v1`) APIs, as a client sees
 * them: status, headers, the raw text and the parsed JSON body.
 */
export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: unknown;
}

export interface ApiRequest {
  readonly method: HttpMethod;
  readonly path: string;
  /** Sent as `Authorization: Bearer <token>`; null sends no Authorization header. */
  readonly token: string | null;
  /** Serialized as JSON (with `content-type: application/json`). */
  readonly body?: unknown;
  /** Sent as is (with `content-type: application/json`), for bodies JSON.stringify cannot make. */
  readonly raw?: string | Uint8Array;
  readonly headers?: Record<string, string>;
}

export async function send(baseUrl: string, req: ApiRequest): Promise<Answer> {
  const headers: Record<string, string> = { ...req.headers };
  if (req.token !== null) headers.authorization = `Bearer ${req.token}`;
  let body: string | Uint8Array | undefined;
  if (req.raw !== undefined) body = req.raw;
  else if (req.body !== undefined) body = JSON.stringify(req.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(baseUrl + req.path, { method: req.method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly requestId: string;
  readonly details?: Record<string, unknown>;
}

/**
 * Asserts the one REST error shape, `{ error: { code, message, requestId } }` (plus the
 * optional `details` object the error handler adds), with this status and code.
 */
export function expectError(answer: Answer, status: number, code: string): ErrorBody {
  expect({ status: answer.status, body: answer.body }).toMatchObject({ status, body: { error: { code } } });
  const body = answer.body as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['error']);
  const error = body.error as ErrorBody;
  expect(typeof error.message).toBe('string');
  expect(error.message.length).toBeGreaterThan(0);
  expect(error.requestId).toMatch(/^req_[1-9A-HJ-NP-Za-km-z]{8,40}$/);
  for (const k of Object.keys(error)) expect(['code', 'message', 'requestId', 'details']).toContain(k);
  if ('details' in error) expect(typeof error.details).toBe('object');
  expect(answer.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  return error;
}

/** The answer without what legitimately differs between two requests (the request id). */
export function comparable(answer: Answer): { status: number; body: unknown } {
  const body = answer.body as { error?: Record<string, unknown> } | undefined;
  if (body && typeof body === 'object' && body.error && typeof body.error === 'object') {
    const { requestId: _requestId, ...rest } = body.error;
    return { status: answer.status, body: { ...body, error: rest } };
  }
  return { status: answer.status, body };
}
