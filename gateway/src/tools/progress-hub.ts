import type { Redis } from '../../../platform/redis/client.js';
import type { ToolProgress } from '../../../core/temporal/contracts.js';

type Listener = (progress: ToolProgress) => void;

/**
 * Receives tool-call progress published by activities (Redis pub/sub) on one dedicated
 * subscriber connection, and hands each message to the caller waiting on that call.
 * Subscribing resolves once Redis confirms, so nothing published after it is missed.
 */
export class ProgressHub {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly subscriber: Redis) {
    subscriber.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      let progress: ToolProgress;
      try {
        progress = JSON.parse(message) as ToolProgress;
      } catch {
        return;
      }
      for (const l of set) l(progress);
    });
  }

  /** Listens on `channel` until the returned function is called. */
  async subscribe(channel: string, listener: Listener): Promise<() => void> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await this.subscriber.subscribe(channel);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(channel);
        this.subscriber.unsubscribe(channel).catch(() => {});
      }
    };
  }
}
