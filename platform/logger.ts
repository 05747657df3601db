import { pino, type Logger, type LoggerOptions } from 'pino';
import { VERSION } from './version.js';

const CENSOR = '[redacted]';
/** Redacted wherever they appear at the top level of a line or one level down. */
const SECRET_KEYS = ['apiKey', 'secret', 'token', 'password', 'toolArgs', 'toolResult'] as const;

/**
 * Paths pino replaces with "[redacted]". Raw API keys, staff tokens, Authorization headers,
 * WebSocket subprotocol lists (which may carry a key) and tool arguments or results never
 * reach a log line: the keys below are redacted at the top level here, and one level down
 * (`{ key: { apiKey } }`) by `redactOneLevelDown`. Deeper nesting is not covered: log flat
 * objects (the house style), never whole payloads.
 */
export const REDACT_PATHS = ['req.headers.authorization', 'req.headers["sec-websocket-protocol"]', 'req.headers.cookie', 'headers.authorization', ...SECRET_KEYS];

/**
 * A logged object with the secret keys of its object values (one level down) censored; the
 * same object when it has none. This is what pino's leading-wildcard paths (`*.apiKey`)
 * would do, but those run every value of every line, strings and numbers included, through
 * the redactor: 8 to 15 µs per line, about 5% of a tool call's CPU (docs/performance.md).
 * Here only object values are looked at. Child-logger bindings do not pass through it:
 * bind ids, never objects.
 */
export function redactOneLevelDown(obj: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  for (const key in obj) {
    const value = obj[key];
    if (typeof value !== 'object' || value === null) continue;
    let censored: Record<string, unknown> | undefined;
    for (const secret of SECRET_KEYS) {
      if (!Object.hasOwn(value, secret)) continue;
      censored ??= value instanceof Error ? { ...pino.stdSerializers.err(value) } : { ...(value as Record<string, unknown>) };
      censored[secret] = CENSOR;
    }
    if (!censored) continue;
    if (out === obj) out = { ...obj };
    out[key] = censored;
  }
  return out;
}

export interface LoggerSettings {
  readonly service: string;
  readonly level: string;
  readonly version?: string;
  readonly env?: string;
}

/** The process's root logger: NDJSON on stdout, one per process. */
export function createLogger(settings: LoggerSettings, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { service: settings.service, version: settings.version ?? VERSION, env: settings.env ?? 'development' },
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }), log: redactOneLevelDown },
    serializers: {
      // HTTP requests as Fastify logs them: never headers, and URLs without query secrets.
      req: (req: { method?: string; url?: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url ?? ''), remoteAddress: req.ip }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: pino.stdSerializers.err,
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

const SECRET_PARAM = /token|key|secret|password|auth|signature/i;

/** Removes secrets from a URL before it is logged: values of `access_token`-like query parameters. */
export function redactUrl(raw: string): string {
  const q = raw.indexOf('?');
  if (q < 0) return raw;
  const pairs = raw
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // keep the raw name
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=[redacted]` : pair;
    });
  return `${raw.slice(0, q)}?${pairs.join('&')}`;
}

export type { Logger };
