import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from './logger.js';

/** A pino destination that keeps every line, parsed. */
function collector() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function logger() {
  const out = collector();
  const log = createLogger({ service: 'gateway-test', level: 'debug', version: '9.9.9', env: 'test' }, out.stream);
  return { log, ...out };
}

describe('redactUrl', () => {
  it.each(['access_token', 'key', 'token', 'secret', 'api_key', 'password', 'Authorization'])('redacts the %s query parameter', (name) => {
    const out = redactUrl(`/mcp?${name}=tg_SECRETVALUE`);
    expect(out).not.toContain('tg_SECRETVALUE');
    expect(new URLSearchParams(out.slice(out.indexOf('?') + 1)).get(name)).toBe('[redacted]');
    expect(out.startsWith('/mcp?')).toBe(true);
  });

  it('keeps the path and the other parameters', () => {
    const out = redactUrl('/v1/mcp/session?page=2&access_token=abc123&sort=name');
    expect(out.startsWith('/v1/mcp/session?')).toBe(true);
    const params = new URLSearchParams(out.split('?')[1]);
    expect([...params.keys()]).toEqual(['page', 'access_token', 'sort']);
    expect(params.get('page')).toBe('2');
    expect(params.get('sort')).toBe('name');
    expect(out).not.toContain('abc123');
  });

  it('redacts every occurrence of a repeated parameter', () => {
    expect(redactUrl('/mcp?token=one&token=two')).not.toMatch(/one|two/);
  });

  it('redacts a parameter whose name is percent-encoded (it still authenticates)', () => {
    expect(redactUrl('/mcp?access%5Ftoken=tg_ENCODEDSECRET')).not.toContain('tg_ENCODEDSECRET');
  });

  it('leaves URLs without a query alone', () => {
    expect(redactUrl('/mcp')).toBe('/mcp');
    expect(redactUrl('')).toBe('');
  });
});

describe('createLogger', () => {
  it('writes NDJSON with the service fields and a string level', () => {
    const { log, records } = logger();
    log.info({ tool: 'text_stats' }, 'called');
    expect(records()).toEqual([
      expect.objectContaining({ level: 'info', service: 'gateway-test', version: '9.9.9', env: 'test', tool: 'text_stats', msg: 'called' }),
    ]);
    expect(typeof records()[0]!.time).toBe('string');
  });

  it('respects the level', () => {
    const out = collector();
    const log = createLogger({ service: 's', level: 'warn' }, out.stream);
    log.info('quiet');
    log.warn('loud');
    expect(out.records().map((r) => r.msg)).toEqual(['loud']);
  });

  it('redacts Authorization headers, nested apiKeys and tool arguments', () => {
    const { log, lines, records } = logger();
    log.info(
      {
        headers: { authorization: 'Bearer tg_HEADERSECRET', accept: 'application/json' },
        key: { apiKey: 'tg_NESTEDSECRET', prefix: 'abc' },
        toolArgs: { text: 'private document' },
        call: { toolResult: { answer: 'private answer' } },
      },
      'tool call',
    );
    const text = lines.join('\n');
    for (const secret of ['HEADERSECRET', 'NESTEDSECRET', 'private document', 'private answer']) expect(text).not.toContain(secret);
    const r = records()[0]!;
    expect(r.headers).toEqual({ authorization: '[redacted]', accept: 'application/json' });
    expect(r.key).toEqual({ apiKey: '[redacted]', prefix: 'abc' });
    expect(r.toolArgs).toBe('[redacted]');
  });

  it('redacts tool arguments bound on a child logger', () => {
    const { log, lines } = logger();
    log.child({ toolArgs: { text: 'private document' } }).info('child line');
    expect(lines.join('\n')).not.toContain('private document');
  });

  it('never writes request headers, and redacts the URL of a Fastify-like request', () => {
    const { log, lines, records } = logger();
    log.info(
      {
        req: {
          method: 'GET',
          url: '/mcp?access_token=tg_x&session=42',
          ip: '127.0.0.1',
          headers: { authorization: 'Bearer tg_y', 'sec-websocket-protocol': 'mcp, bearer.tg_z' },
        },
      },
      'incoming request',
    );
    const text = lines.join('\n');
    expect(text).not.toMatch(/tg_x|tg_y|tg_z/);
    const req = records()[0]!.req as { method: string; url: string; remoteAddress: string };
    expect(req.method).toBe('GET');
    expect(req.remoteAddress).toBe('127.0.0.1');
    expect(req.url.startsWith('/mcp?')).toBe(true);
    const params = new URLSearchParams(req.url.split('?')[1]);
    expect(params.get('access_token')).toBe('[redacted]');
    expect(params.get('session')).toBe('42');
  });

  it('keeps only the status of a logged response', () => {
    const { log, records } = logger();
    log.info({ res: { statusCode: 429, headers: { 'set-cookie': 'sid=secret' } } }, 'done');
    expect(records()[0]!.res).toEqual({ statusCode: 429 });
  });

  // The module promises that raw API keys "never reach a log line" and that the paths are
  // redacted "wherever they appear"; `*.apiKey` only matches one level down.
  it('redacts an apiKey, token or secret logged at the top level', () => {
    const { log, lines } = logger();
    log.warn({ apiKey: 'tg_TOPLEVELKEY', token: 'stf_TOPLEVELTOKEN', secret: 'TOPLEVELSECRET' }, 'oops');
    expect(lines.join('\n')).not.toMatch(/TOPLEVELKEY|TOPLEVELTOKEN|TOPLEVELSECRET/);
  });

  it('redacts secrets one level down in an error, and keeps the error readable', () => {
    const { log, lines, records } = logger();
    log.error({ err: Object.assign(new Error('upstream refused'), { token: 'stf_ERRORTOKEN', status: 401 }) }, 'call failed');
    expect(lines.join('\n')).not.toContain('stf_ERRORTOKEN');
    const err = records()[0]!.err as { message: string; token: string; status: number; stack: string };
    expect(err).toMatchObject({ message: 'upstream refused', token: '[redacted]', status: 401 });
    expect(err.stack).toContain('upstream refused');
  });

  it('leaves the logged object itself untouched', () => {
    const { log } = logger();
    const key = { apiKey: 'tg_KEEPME', prefix: 'abc' };
    log.info({ key }, 'key used');
    expect(key.apiKey).toBe('tg_KEEPME');
  });
});
