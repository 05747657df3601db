import type { ToolProgress } from '../../../core/temporal/contracts.js';
import type { RedisSubscriptions } from '../../../platform/redis/subscriptions.js';

/**
 * Receives tool-call progress that activities publish on Redis, for the caller waiting on
 * that call. Subscribing resolves once Redis confirms, so no progress published after the
 * workflow starts is missed.
 */
export class ProgressHub {
  constructor(private readonly subscriptions: RedisSubscriptions) {}

  subscribe(channel: string, listener: (progress: ToolProgress) => void): Promise<() => void> {
    return this.subscriptions.subscribe(channel, (message) => {
      let progress: ToolProgress;
      try {
        progress = JSON.parse(message) as ToolProgress;
      } catch {
        return;
      }
      listener(progress);
    });
  }
}
