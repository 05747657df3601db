import type { KeyId, OrgId, UserId } from './ids.js';
import type { BillingPeriod } from './admission/levels.js';
import type { Plan } from './plans.js';

export type Role = 'owner' | 'admin' | 'member';
export const ROLES: readonly Role[] = ['owner', 'admin', 'member'];

/**
 * Who is calling: resolved from an API key on every request and attached to the request
 * context, its log lines and the MCP handler context. Never holds the raw key.
 */
export interface Principal {
  readonly userId: UserId;
  readonly orgId: OrgId;
  readonly role: Role;
  readonly keyId: KeyId;
  /** The key's public prefix, safe to log. */
  readonly keyPrefix: string;
  readonly scopes: readonly string[];
  readonly plan: Plan;
  /** The organization's current billing period (its monthly quotas count over it). */
  readonly billingPeriod?: BillingPeriod;
}

/** Who performed a change, as the audit log records it. */
export interface Actor {
  readonly type: 'staff' | 'user' | 'system';
  readonly id: string;
}
