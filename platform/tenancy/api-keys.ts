import { createHash, timingSafeEqual } from 'node:crypto';
import { randomBase58 } from '../../core/ids.js';

/**
 * API key format: `tg_<prefix>_<secret>`.
 * - prefix: 12 base58 characters, public, unique: the lookup key and what lists show.
 * - secret: 32 base58 characters (~187 bits), never stored; only its SHA-256 is.
 * A fast hash is right here: the secret is high-entropy random, so there is nothing to
 * brute-force, and authentication stays cheap on the hot path.
 */
export const KEY_PREFIX_LENGTH = 12;
export const SECRET_LENGTH = 32;
const KEY_PATTERN = /^tg_([1-9A-HJ-NP-Za-km-z]{12})_([1-9A-HJ-NP-Za-km-z]{32})$/;

export interface GeneratedKey {
  /** The full key: shown once, never stored. */
  readonly raw: string;
  readonly prefix: string;
  readonly secretHash: Buffer;
}

export function generateApiKey(): GeneratedKey {
  const prefix = randomBase58(KEY_PREFIX_LENGTH);
  const secret = randomBase58(SECRET_LENGTH);
  return { raw: `tg_${prefix}_${secret}`, prefix, secretHash: hashSecret(secret) };
}

export interface ParsedKey {
  readonly prefix: string;
  readonly secret: string;
}

/** Splits a presented key; `null` for anything that is not shaped like one of ours. */
export function parseApiKey(raw: string): ParsedKey | null {
  const m = KEY_PATTERN.exec(raw);
  return m ? { prefix: m[1]!, secret: m[2]! } : null;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant-time comparison of a presented secret with the stored hash. */
export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}

/** `tg_<prefix>…`: how a key is shown after creation and in logs. */
export function displayKey(prefix: string): string {
  return `tg_${prefix}…`;
}
