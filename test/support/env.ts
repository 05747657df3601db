import { inject } from 'vitest';
import { loadConfig, type Config } from '../../platform/config.js';

/**
 * The environment of the test stack: the services the global setup prepared, free ports,
 * and a task-queue prefix of the test file's own, so parallel files never take each
 * other's Temporal tasks.
 */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    TOLLGATE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    ADMIN_PORT: '0',
    STATUS_PORT: '0',
    LOG_LEVEL: 'info',
    DATABASE_URL: inject('databaseUrl'),
    DATABASE_OWNER_URL: inject('databaseOwnerUrl'),
    REDIS_URL: inject('redisUrl'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TOLLGATE_TASK_QUEUE_PREFIX: taskQueuePrefix,
    // Worker processes of parallel tests would fight over one metrics port; tests that read it set one.
    TOLLGATE_WORKER_METRICS_ADDRESS: 'off',
    // Test files share one database: a sweep would start workflows for other files' organizations
    // on its own task queue. The billing tests run the sweep against a database of their own.
    TOLLGATE_SUBSCRIPTION_SWEEP_EVERY: 'off',
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(testEnv(overrides));
}

const taskQueuePrefix = `test-${Math.random().toString(36).slice(2, 10)}-`;
