import type { FastifyBaseLogger } from 'fastify';
import { redisKeys } from '../../../core/redis-keys.js';
import type { RedisSubscriptions } from '../../../platform/redis/subscriptions.js';
import { parseTenancyEvent, type TenancyEvent } from '../../../platform/tenancy/events.js';

export interface TenancyHandlers {
  /** The key no longer works: forget it and close its sessions. */
  keyRevoked(keyId: string, prefix: string): void;
  /** The key changed: re-read it on next use. */
  keyChanged(keyId: string, prefix: string): void;
  /** Roles or the plan of an organization changed: re-read its keys on next use. */
  orgChanged(orgId: string): void;
  /** Plans were edited: reload them. */
  plansChanged(): void;
}

/** Applies tenancy changes published by any gateway (or the CLI) to this gateway, at once. */
export function listenForTenancyEvents(subscriptions: RedisSubscriptions, handlers: TenancyHandlers, log: FastifyBaseLogger): Promise<() => void> {
  return subscriptions.subscribe(redisKeys.tenancyEvents(), (message) => {
    const event = parseTenancyEvent(message);
    if (!event) return;
    log.info({ event: event.type, ...('keyId' in event ? { keyId: event.keyId } : {}), ...('orgId' in event ? { orgId: event.orgId } : {}) }, 'tenancy event applied');
    applyTenancyEvent(handlers, event);
  });
}

/**
 * Applies one event. Handlers are idempotent: the gateway that made a change applies it
 * itself before answering (so its own caller never sees the old state) and then receives
 * the same event again over pub/sub.
 */
export function applyTenancyEvent(handlers: TenancyHandlers, event: TenancyEvent): void {
  switch (event.type) {
    case 'key-revoked':
      return handlers.keyRevoked(event.keyId, event.prefix);
    case 'key-changed':
      return handlers.keyChanged(event.keyId, event.prefix);
    case 'org-changed':
      return handlers.orgChanged(event.orgId);
    case 'plans-changed':
      return handlers.plansChanged();
  }
}
