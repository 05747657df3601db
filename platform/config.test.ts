import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('loads the defaults from an empty environment', () => {
    const config = loadConfig({});
    expect(config.env).toBe('development');
    expect(config.logLevel).toBe('info');
    expect(config.http).toEqual({
      host: '0.0.0.0',
      port: 8080,
      adminPort: 8081,
      statusPort: 8082,
      bodyLimitBytes: 1024 * 1024,
      allowedHosts: undefined,
      publicUrl: 'http://localhost:8080',
      shutdownGraceMs: 10_000,
      trustProxy: false,
    });
    expect(config.ws).toEqual({ maxMessageBytes: 1024 * 1024, pingIntervalMs: 25_000 });
    expect(config.auth.keyCacheTtlMs).toBe(30_000);
    expect(config.billing.upgradeUrl).toBe('http://localhost:8080/upgrade');
    expect(config.postgres).toEqual({
      url: 'postgres://tollgate_app@127.0.0.1:5432/tollgate',
      ownerUrl: 'postgres://postgres@127.0.0.1:5432/tollgate',
      poolMax: 10,
    });
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default' });
    expect(config.worker.maxConcurrentActivities).toBe(50);
    expect(config.stripe).toEqual({ secretKey: undefined, webhookSecret: undefined, apiBase: undefined, meterEventName: 'tollgate_overage_units' });
    // Without a Stripe key billing runs locally: plans change without charges.
    expect(config.billing).toMatchObject({ mode: 'local', period: '1 month', graceMs: 7 * 86_400_000, sweepEveryMs: 60_000, planChangeWaitMs: 10_000 });
    // No collector named: tracing is off.
    expect(config.tracing).toEqual({ endpoint: undefined, serviceName: undefined, sampleRatio: 1 });
  });

  it('turns tracing on with an OTLP endpoint, the traces URL winning over the base URL', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing.endpoint).toBe('http://collector:4318/v1/traces');
    const config = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces.internal/otlp/v1/traces',
      OTEL_SERVICE_NAME: 'tollgate-eu',
      TOLLGATE_TRACE_SAMPLE_RATIO: '0.25',
    });
    expect(config.tracing).toEqual({ endpoint: 'http://traces.internal/otlp/v1/traces', serviceName: 'tollgate-eu', sampleRatio: 0.25 });
    expect(() => loadConfig({ TOLLGATE_TRACE_SAMPLE_RATIO: '2' })).toThrow(/TOLLGATE_TRACE_SAMPLE_RATIO/);
  });

  it('reads the billing settings, and refuses a period Postgres would not understand', () => {
    const config = loadConfig({ STRIPE_SECRET_KEY: 'sk_test_x', TOLLGATE_BILLING_PERIOD: '5 seconds', TOLLGATE_SUBSCRIPTION_SWEEP_EVERY: 'off', TOLLGATE_BILLING_SETTLE: '1 s' });
    expect(config.billing).toMatchObject({ mode: 'stripe', period: '5 seconds', sweepEveryMs: null, settleMs: 1000 });
    expect(() => loadConfig({ TOLLGATE_BILLING_PERIOD: "1 month'; DROP TABLE plans; --" })).toThrow(/TOLLGATE_BILLING_PERIOD/);
    expect(() => loadConfig({ TOLLGATE_SUBSCRIPTION_SWEEP_EVERY: 'sometimes' })).toThrow(/TOLLGATE_SUBSCRIPTION_SWEEP_EVERY/);
  });

  it('reads and converts the values it is given', () => {
    const config = loadConfig({
      TOLLGATE_ENV: 'production',
      PORT: '9000',
      DATABASE_URL: 'postgres://app:pw@db.internal:5432/tollgate',
      REDIS_URL: 'redis://cache:6379/2',
      TOLLGATE_WS_PING_INTERVAL: '25 s',
      TOLLGATE_KEY_CACHE_TTL: '5 min',
      TOLLGATE_SHUTDOWN_GRACE: '1500',
      TOLLGATE_ALLOWED_HOSTS: ' api.example.com, ,localhost ',
      TOLLGATE_PUBLIC_URL: 'https://api.example.com',
      STRIPE_SECRET_KEY: 'sk_test_1',
      STRIPE_WEBHOOK_SECRET: '   ',
    });
    expect(config.env).toBe('production');
    expect(config.http.port).toBe(9000);
    expect(config.postgres.url).toBe('postgres://app:pw@db.internal:5432/tollgate');
    expect(config.redis.url).toBe('redis://cache:6379/2');
    expect(config.ws.pingIntervalMs).toBe(25_000);
    expect(config.auth.keyCacheTtlMs).toBe(300_000);
    expect(config.http.shutdownGraceMs).toBe(1_500);
    expect(config.http.allowedHosts).toEqual(['api.example.com', 'localhost']);
    expect(config.http.publicUrl).toBe('https://api.example.com');
    expect(config.billing.upgradeUrl).toBe('https://api.example.com/upgrade');
    expect(config.stripe.secretKey).toBe('sk_test_1');
    expect(config.stripe.webhookSecret).toBeUndefined();
  });

  it('lists every problem at once', () => {
    const err = configError({ PORT: 'abc', TOLLGATE_WS_PING_INTERVAL: 'soon', DATABASE_URL: 'nope' });
    expect(err.issues).toHaveLength(3);
    expect(err.issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PORT: /),
        expect.stringMatching(/^TOLLGATE_WS_PING_INTERVAL: not a duration: "soon"$/),
        expect.stringMatching(/^DATABASE_URL: /),
      ]),
    );
    for (const issue of err.issues) expect(err.message).toContain(issue);
    expect(err.name).toBe('ConfigError');
  });

  it.each([
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['LOG_LEVEL', 'verbose'],
    ['TOLLGATE_ENV', 'staging'],
    ['DATABASE_POOL_MAX', '0'],
    ['TOLLGATE_HTTP_BODY_LIMIT', '10'],
    ['TOLLGATE_KEY_CACHE_TTL', '3 fortnights'],
    ['REDIS_URL', 'not a url'],
  ])('rejects %s=%j', (name, value) => {
    expect(configError({ [name]: value }).issues).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_POOL_MAX: ' ', STRIPE_SECRET_KEY: '' });
    expect(config.http.port).toBe(8080);
    expect(config.postgres.poolMax).toBe(10);
    expect(config.stripe.secretKey).toBeUndefined();
  });

  it('returns a deep-frozen config', () => {
    const config = loadConfig({ TOLLGATE_ALLOWED_HOSTS: 'a.example,b.example' });
    const unfrozen: string[] = [];
    const visit = (value: unknown, path: string) => {
      if (typeof value !== 'object' || value === null) return;
      if (!Object.isFrozen(value)) unfrozen.push(path);
      for (const [k, v] of Object.entries(value)) visit(v, `${path}.${k}`);
    };
    visit(config, 'config');
    expect(unfrozen).toEqual([]);
    expect(Object.isFrozen(config.http.allowedHosts)).toBe(true);
    expect(() => {
      (config.http as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(config.http.port).toBe(8080);
  });
});
