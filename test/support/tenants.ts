import type { OrgId, UserId } from '../../core/ids.js';
import type { Role } from '../../core/principal.js';
import type { Pool } from '../../platform/pg/pool.js';
import { addMember, createApiKey, createOrganization, createUser, provision } from '../../platform/tenancy/provisioning.js';

export interface TestTenant {
  readonly orgId: OrgId;
  readonly userId: UserId;
  readonly keyId: string;
  /** The raw API key (tests only; never logged by the platform). */
  readonly key: string;
}

let seq = 0;

/** A fresh organization on `plan` with an owner and one API key, created through the provisioning code. */
export async function createTenant(ownerPool: Pool, opts: { plan?: string; role?: Role; scopes?: string[] } = {}): Promise<TestTenant> {
  const n = `${process.pid}-${Date.now()}-${seq++}`;
  return provision(ownerPool, async (db) => {
    const owner = await createUser(db, { email: `owner-${n}@example.test`, name: `Owner ${n}` });
    const orgId = await createOrganization(db, { name: `Org ${n}`, plan: opts.plan ?? 'free', ownerId: owner.userId });
    let userId = owner.userId;
    if (opts.role && opts.role !== 'owner') {
      userId = (await createUser(db, { email: `user-${n}@example.test`, name: `User ${n}` })).userId;
      await addMember(db, orgId, userId, opts.role);
    }
    const key = await createApiKey(db, { orgId, userId, name: 'test key', scopes: opts.scopes ?? ['mcp', 'account'] });
    return { orgId, userId, keyId: key.keyId, key: key.raw };
  });
}
