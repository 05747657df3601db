import { describe, expect, it } from 'vitest';
import { KEY_PREFIX_LENGTH, SECRET_LENGTH, displayKey, generateApiKey, hashSecret, parseApiKey, secretMatches } from './api-keys.js';

const PREFIX = 'A'.repeat(KEY_PREFIX_LENGTH);
const SECRET = 'z'.repeat(SECRET_LENGTH);

describe('generateApiKey', () => {
  it('round-trips through parseApiKey', () => {
    const key = generateApiKey();
    expect(key.raw).toMatch(/^tg_[1-9A-HJ-NP-Za-km-z]{12}_[1-9A-HJ-NP-Za-km-z]{32}$/);
    const parsed = parseApiKey(key.raw);
    expect(parsed).not.toBeNull();
    expect(parsed!.prefix).toBe(key.prefix);
    expect(secretMatches(parsed!.secret, key.secretHash)).toBe(true);
  });

  it('stores a SHA-256 of the secret, never the secret or the key', () => {
    const key = generateApiKey();
    const secret = parseApiKey(key.raw)!.secret;
    expect(key.secretHash).toHaveLength(32);
    expect(key.secretHash.equals(hashSecret(secret))).toBe(true);
    for (const encoding of ['hex', 'base64', 'base64url', 'latin1'] as const) {
      const hash = key.secretHash.toString(encoding);
      expect(key.raw).not.toBe(hash);
      expect(key.raw).not.toContain(hash);
      expect(hash).not.toContain(secret);
    }
  });

  it('makes a different key every time', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.prefix).not.toBe(b.prefix);
    expect(a.raw).not.toBe(b.raw);
    expect(a.secretHash.equals(b.secretHash)).toBe(false);
  });
});

describe('secretMatches', () => {
  it('is true only for the secret that was hashed', () => {
    const stored = hashSecret(SECRET);
    expect(secretMatches(SECRET, stored)).toBe(true);
    expect(secretMatches(`${SECRET.slice(0, -1)}y`, stored)).toBe(false);
    expect(secretMatches('', stored)).toBe(false);
  });

  it('is false against a hash of the wrong length', () => {
    expect(secretMatches(SECRET, Buffer.alloc(0))).toBe(false);
    expect(secretMatches(SECRET, hashSecret(SECRET).subarray(0, 16))).toBe(false);
  });
});

describe('parseApiKey', () => {
  it('splits a well-formed key', () => {
    expect(parseApiKey(`tg_${PREFIX}_${SECRET}`)).toEqual({ prefix: PREFIX, secret: SECRET });
  });

  it.each([
    ['a wrong prefix', `tk_${PREFIX}_${SECRET}`],
    ['an upper-case prefix', `TG_${PREFIX}_${SECRET}`],
    ['no prefix', `${PREFIX}_${SECRET}`],
    ['a short key prefix', `tg_${PREFIX.slice(1)}_${SECRET}`],
    ['a long key prefix', `tg_${PREFIX}A_${SECRET}`],
    ['a short secret', `tg_${PREFIX}_${SECRET.slice(1)}`],
    ['a long secret', `tg_${PREFIX}_${SECRET}z`],
    ['a 0 in the key prefix', `tg_0${PREFIX.slice(1)}_${SECRET}`],
    ['an O in the secret', `tg_${PREFIX}_O${SECRET.slice(1)}`],
    ['an I in the secret', `tg_${PREFIX}_I${SECRET.slice(1)}`],
    ['an l in the secret', `tg_${PREFIX}_l${SECRET.slice(1)}`],
    ['a dash in the secret', `tg_${PREFIX}_-${SECRET.slice(1)}`],
    ['surrounding whitespace', ` tg_${PREFIX}_${SECRET} `],
    ['a trailing newline', `tg_${PREFIX}_${SECRET}\n`],
    ['a Bearer scheme', `Bearer tg_${PREFIX}_${SECRET}`],
    ['an empty string', ''],
  ])('rejects %s', (_what, raw) => {
    expect(parseApiKey(raw)).toBeNull();
  });
});

describe('displayKey', () => {
  it('shows only the public prefix', () => {
    expect(displayKey(PREFIX)).toBe(`tg_${PREFIX}…`);
  });
});
