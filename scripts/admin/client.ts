import { ApiError, CliError, UsageError } from './errors.js';

/** Query values; `undefined` ones are left out so optional flags stay optional on the wire. */
export type Query = Record<string, string | number | undefined>;

export interface ApiResponse<T = unknown> {
  readonly status: number;
  /** The parsed JSON body; `null` for 204 No Content. */
  readonly body: T;
}

const TIMEOUT_MS = 30_000;

/**
 * A thin client of the admin API (`/admin/v1`). It owns the staff token and puts it in the
 * Authorization header only: it never appears in a URL, a message or an exception, which
 * is why transport errors are reported by their code and never by their message (fetch
 * echoes an invalid header value, i.e. the token, in its).
 */
export class AdminClient {
  /** The base URL without credentials, query or trailing slash: what requests go to, and safe to print. */
  readonly displayUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
  ) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new UsageError(`TOLLGATE_ADMIN_URL is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('TOLLGATE_ADMIN_URL must be an http:// or https:// URL');
    // A base behind a path prefix (https://ops.example.com/tollgate) keeps its prefix.
    this.displayUrl = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  }

  get<T>(path: string, query?: Query): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path, { query });
  }
  post<T>(path: string, body?: unknown): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, { body });
  }
  patch<T>(path: string, body: unknown): Promise<ApiResponse<T>> {
    return this.request<T>('PATCH', path, { body });
  }
  put<T>(path: string, body: unknown, query?: Query): Promise<ApiResponse<T>> {
    return this.request<T>('PUT', path, { body, query });
  }
  delete<T>(path: string): Promise<ApiResponse<T>> {
    return this.request<T>('DELETE', path, {});
  }

  async request<T>(method: string, path: string, opts: { query?: Query | undefined; body?: unknown }): Promise<ApiResponse<T>> {
    const url = new URL(`${this.displayUrl}${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    // No body, no Content-Type: Fastify refuses an empty body declared as JSON.
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? null : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw this.transportError(err);
    }
    return { status: res.status, body: (await this.readBody(res)) as T };
  }

  private async readBody(res: Response): Promise<unknown> {
    const text = await res.text().catch(() => '');
    if (res.status === 204) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(`unexpected answer from ${this.displayUrl}: HTTP ${res.status}, not JSON (is TOLLGATE_ADMIN_URL the admin listener?)`);
    }
    if (res.ok) return parsed;
    const error = (parsed as { error?: { code?: unknown; message?: unknown; requestId?: unknown } } | null)?.error;
    if (typeof error?.code !== 'string') throw new CliError(`unexpected answer from ${this.displayUrl}: HTTP ${res.status}`);
    const message = typeof error.message === 'string' ? error.message : '';
    // Fastify's "no route" on /admin/v1 means the URL points at another listener (public or status port).
    const hint = error.code === 'NOT_FOUND' && message.startsWith('no route for') ? `${this.displayUrl} does not serve the admin API: point TOLLGATE_ADMIN_URL at the admin listener (ADMIN_PORT)` : undefined;
    throw new ApiError(error.code, message, typeof error.requestId === 'string' ? error.requestId : undefined, res.status, hint);
  }

  private transportError(err: unknown): CliError {
    const name = (err as { name?: unknown } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') return new CliError(`no answer from the admin API at ${this.displayUrl} within ${TIMEOUT_MS / 1000} s`);
    // The cause is the socket's error (ECONNREFUSED, ENOTFOUND, "bad port"): it names no header.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : 'no connection';
    return new CliError(`cannot reach the admin API at ${this.displayUrl} (${why}): is the gateway running? Set TOLLGATE_ADMIN_URL to its admin listener.`);
  }
}

/** Builds an API path, percent-encoding every interpolated value so an id can never change the route. */
export function apiPath(strings: TemplateStringsArray, ...values: string[]): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]!) : ''), '/admin/v1');
}
