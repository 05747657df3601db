import type { Redis } from 'ioredis';

type Listener = (message: string) => void;

/**
 * Many listeners on one dedicated Redis subscriber connection. `subscribe` resolves once
 * Redis confirms, so nothing published after it is missed; the channel is released when
 * its last listener leaves. ioredis re-subscribes by itself after a reconnect.
 */
export class RedisSubscriptions {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly subscriber: Redis) {
    subscriber.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (set) for (const l of set) l(message);
    });
  }

  async subscribe(channel: string, listener: Listener): Promise<() => void> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      try {
        await this.subscriber.subscribe(channel);
      } catch (e) {
        this.listeners.delete(channel);
        throw e;
      }
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      this.subscriber.unsubscribe(channel).catch(() => {});
    };
  }
}
