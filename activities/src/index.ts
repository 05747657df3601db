import type { ToolCallActivities } from '../../core/temporal/contracts.js';
import type { Pool } from '../../platform/pg/pool.js';
import type { Redis } from '../../platform/redis/client.js';
import { createToolCallActivities } from './tool-calls.js';

export interface ActivityDeps {
  readonly redis: Redis;
  /** Tools that read tenant data do so through it, scoped to the caller's organization. */
  readonly pool: Pool;
}

/** Every activity, bound to its dependencies. */
export function createActivities(deps: ActivityDeps): ToolCallActivities {
  return { ...createToolCallActivities(deps) };
}
