import type { Role } from './principal.js';

/**
 * Who may do what inside an organization (the account API). One table, tested cell by
 * cell; a refusal is 403 FORBIDDEN. Admins manage members and keys but never owners:
 * only an owner grants, revokes or removes the owner role.
 */
export const ACCOUNT_OPERATIONS = [
  'org.read',
  'org.manage',
  'members.read',
  'members.manage',
  'members.manage_owners',
  'keys.read_all',
  'keys.manage_own',
  'keys.manage_all',
  'audit.read',
  'usage.read_own',
  'usage.read_all',
] as const;
export type AccountOperation = (typeof ACCOUNT_OPERATIONS)[number];

export const RBAC: Readonly<Record<AccountOperation, readonly Role[]>> = {
  'org.read': ['owner', 'admin', 'member'],
  'org.manage': ['owner'],
  'members.read': ['owner', 'admin', 'member'],
  'members.manage': ['owner', 'admin'],
  'members.manage_owners': ['owner'],
  'keys.read_all': ['owner', 'admin'],
  'keys.manage_own': ['owner', 'admin', 'member'],
  'keys.manage_all': ['owner', 'admin'],
  'audit.read': ['owner', 'admin'],
  // Everyone sees their own calls; the organization's whole usage is for owners and admins.
  'usage.read_own': ['owner', 'admin', 'member'],
  'usage.read_all': ['owner', 'admin'],
};

export function can(role: Role, operation: AccountOperation): boolean {
  return RBAC[operation].includes(role);
}

/** Scopes a key can carry: `mcp` calls tools, `account` uses the account API. */
export const KEY_SCOPES = ['mcp', 'account'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];
