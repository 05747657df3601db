/**
 * Prefixed, typed identifiers: `org_7Hq…`, `key_…`, `req_…`.
 *
 * The prefix tells a reader (and a log search) what an id names; the brand keeps a
 * user id from being passed where an organization id is expected. Ids are 20 base58
 * characters (~117 bits of randomness), so they are safe to expose and impossible to guess.
 * Workflow code must never call `newId` (it is not deterministic); workflows get ids
 * from their input.
 */
const PREFIXES = {
  org: 'org',
  user: 'usr',
  key: 'key',
  request: 'req',
  call: 'call',
  staff: 'stf',
  staffToken: 'stt',
  plan: 'pln',
  audit: 'aud',
  /** A plan change (the subscription workflow's Update id). */
  change: 'chg',
} as const;

export type IdKind = keyof typeof PREFIXES;
export type Id<K extends IdKind> = string & { readonly __id: K };
export type OrgId = Id<'org'>;
export type UserId = Id<'user'>;
export type KeyId = Id<'key'>;
export type RequestId = Id<'request'>;
export type CallId = Id<'call'>;

/** The id alphabet: no 0, O, I or l. */
export const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/**
 * `length` base58 characters from Web Crypto (present in Node 20+). Bytes of 232 and above
 * are rejected so every character is uniformly distributed (232 = 4 × 58).
 */
export function randomBase58(length: number): string {
  let out = '';
  while (out.length < length) {
    const buf = new Uint8Array(length * 2);
    globalThis.crypto.getRandomValues(buf);
    for (const b of buf) {
      if (b < 232) out += BASE58[b % 58];
      if (out.length === length) break;
    }
  }
  return out;
}

export function newId<K extends IdKind>(kind: K): Id<K> {
  return `${PREFIXES[kind]}_${randomBase58(20)}` as Id<K>;
}

let sequence = 0;
const processPrefix = randomBase58(10);

/**
 * A unique id without a random draw per call, for hot paths (request ids, lease ids):
 * a random prefix chosen once per process, then a counter. Unique across processes and
 * restarts (the prefix), cheap (no crypto per call), not secret and not meant to be.
 */
export function sequentialId<K extends IdKind>(kind: K): Id<K> {
  let n = ++sequence;
  let tail = '';
  do {
    tail = BASE58[n % 58]! + tail;
    n = Math.floor(n / 58);
  } while (n > 0);
  return `${PREFIXES[kind]}_${processPrefix}${tail}` as Id<K>;
}

const ID_PATTERN = /^[a-z]{3,4}_[1-9A-HJ-NP-Za-km-z]{8,40}$/;

/** True when `value` is a well-formed id of `kind` (shape only; says nothing about existence). */
export function isId<K extends IdKind>(kind: K, value: unknown): value is Id<K> {
  return typeof value === 'string' && value.startsWith(`${PREFIXES[kind]}_`) && ID_PATTERN.test(value);
}

export function idPrefix(kind: IdKind): string {
  return PREFIXES[kind];
}
