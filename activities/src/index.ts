import type { ToolCallActivities } from '../../core/temporal/contracts.js';
import type { Redis } from '../../platform/redis/client.js';
import { createToolCallActivities } from './tool-calls.js';

export interface ActivityDeps {
  readonly redis: Redis;
}

/** Every activity, bound to its dependencies. */
export function createActivities(deps: ActivityDeps): ToolCallActivities {
  return { ...createToolCallActivities(deps) };
}
