import { describe, expect, it } from 'vitest';
import { idPrefix, isId, newId, randomBase58 } from './ids.js';

const BASE58_ONLY = /^[1-9A-HJ-NP-Za-km-z]*$/;

describe('newId', () => {
  it.each([
    ['org', 'org'],
    ['user', 'usr'],
    ['key', 'key'],
    ['request', 'req'],
    ['call', 'call'],
    ['staff', 'stf'],
    ['plan', 'pln'],
    ['audit', 'aud'],
  ] as const)('makes %s ids as "%s_" followed by 20 base58 characters', (kind, prefix) => {
    const id = newId(kind);
    expect(id).toMatch(new RegExp(`^${prefix}_[1-9A-HJ-NP-Za-km-z]{20}$`));
    expect(idPrefix(kind)).toBe(prefix);
    expect(isId(kind, id)).toBe(true);
  });

  it('does not repeat itself', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId('request')));
    expect(ids.size).toBe(1000);
  });
});

describe('isId', () => {
  const body = 'abcDEF23456789xyzQRS';

  it('accepts a well-formed id of the right kind', () => {
    expect(isId('org', `org_${body}`)).toBe(true);
    expect(isId('call', `call_${body}`)).toBe(true);
  });

  it('rejects an id of another kind', () => {
    expect(isId('org', `usr_${body}`)).toBe(false);
    expect(isId('user', newId('org'))).toBe(false);
    expect(isId('org', `orgx_${body}`)).toBe(false);
  });

  it.each(['0', 'O', 'I', 'l'])('rejects the non-base58 character %s', (ch) => {
    expect(isId('org', `org_${body.slice(0, 10)}${ch}${body.slice(11)}`)).toBe(false);
  });

  it('rejects other malformed values', () => {
    expect(isId('org', 'org_abc1234')).toBe(false); // 7 characters: too short
    expect(isId('org', 'org_abc12345')).toBe(true); // 8 is the minimum
    expect(isId('org', `org_${'a'.repeat(41)}`)).toBe(false); // too long
    expect(isId('org', `org_${body}-`)).toBe(false);
    expect(isId('org', ` org_${body}`)).toBe(false);
    expect(isId('org', 'org_')).toBe(false);
    expect(isId('org', 42)).toBe(false);
    expect(isId('org', null)).toBe(false);
    expect(isId('org', undefined)).toBe(false);
  });
});

describe('randomBase58', () => {
  it.each([0, 1, 12, 20, 32, 200])('returns exactly %i base58 characters', (length) => {
    const s = randomBase58(length);
    expect(s).toHaveLength(length);
    expect(s).toMatch(BASE58_ONLY);
  });

  it('uses the whole alphabet and nothing else', () => {
    const seen = new Set(randomBase58(20_000));
    expect(seen.size).toBe(58);
    for (const ch of '0OIl') expect(seen.has(ch)).toBe(false);
  });
});
