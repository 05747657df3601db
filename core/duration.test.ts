import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['30 s', 30_000],
    ['30s', 30_000],
    ['5 min', 300_000],
    ['5 m', 300_000],
    ['250 ms', 250],
    ['1.5 s', 1_500],
    ['2 h', 7_200_000],
    ['1 d', 86_400_000],
    ['10 sec', 10_000],
    ['  25 S  ', 25_000],
    ['250', 250],
    ['0', 0],
  ])('parses %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('passes numbers through as milliseconds', () => {
    expect(parseDuration(1234)).toBe(1234);
  });

  it('rounds fractional milliseconds', () => {
    expect(parseDuration('0.4 ms')).toBe(0);
    expect(parseDuration('2.5 ms')).toBe(3);
  });

  it.each(['soon', '', 's', '-5 s', '5 s 3', '1,5 s', 'five min'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });

  it('rejects unknown units', () => {
    expect(() => parseDuration('3 weeks')).toThrow(/unknown duration unit/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0 ms'],
    [999, '999 ms'],
    [-5, '0 ms'],
    [1_000, '1 s'],
    [1_001, '2 s'],
    [119_000, '119 s'],
    [120_000, '2 min'],
    [150_000, '3 min'],
    [7_199_999, '120 min'],
    [7_200_000, '2 h'],
    [86_400_000, '24 h'],
  ])('formats %i ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('reads back to at least the original duration', () => {
    for (const ms of [5, 1_500, 90_000, 3_000_000, 10_000_000]) {
      expect(parseDuration(formatDuration(ms))).toBeGreaterThanOrEqual(ms);
    }
  });
});
