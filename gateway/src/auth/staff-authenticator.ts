import { AppError } from '../../../core/errors.js';
import type { Pool } from '../../../platform/pg/pool.js';
import { secretMatches } from '../../../platform/tenancy/api-keys.js';
import { findStaffToken, parseStaffToken } from '../../../platform/tenancy/staff.js';

export interface StaffPrincipal {
  readonly staffId: string;
  readonly email: string;
  readonly tokenId: string;
}

/**
 * Resolves a staff token (`tgs_…`) for the admin API. No cache: the admin API is low
 * volume, and a revoked or disabled staff member must lose access at once.
 */
export class StaffAuthenticator {
  constructor(
    private readonly pool: Pool,
    private readonly onUse: (tokenId: string) => void,
  ) {}

  async authenticate(raw: string, now = Date.now()): Promise<StaffPrincipal> {
    const parsed = parseStaffToken(raw);
    if (!parsed) throw unauthenticated();
    const stored = await findStaffToken(this.pool, parsed.prefix).catch((err: unknown) => {
      throw new AppError('UPSTREAM_UNAVAILABLE', 'the staff store is unavailable', {}, { cause: err });
    });
    if (!stored || !secretMatches(parsed.secret, stored.secretHash)) throw unauthenticated();
    if (stored.revokedAt || stored.disabledAt || (stored.expiresAt && stored.expiresAt.getTime() <= now)) throw unauthenticated();
    this.onUse(stored.tokenId);
    return { staffId: stored.staffId, email: stored.email, tokenId: stored.tokenId };
  }
}

function unauthenticated(): AppError {
  return new AppError('UNAUTHENTICATED', 'missing, invalid, expired or revoked staff token');
}
