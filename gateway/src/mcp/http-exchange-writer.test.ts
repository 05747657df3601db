import { describe, expect, it } from 'vitest';
import { responseModes } from './http-exchange-writer.js';

describe('responseModes', () => {
  it.each([
    ['a missing header', undefined, { sse: true, json: true }],
    ['*/*', '*/*', { sse: true, json: true }],
    ['*/* among others', 'text/html, */*;q=0.8', { sse: true, json: true }],
    ['JSON only', 'application/json', { sse: false, json: true }],
    ['SSE only', 'text/event-stream', { sse: true, json: false }],
    ['both', 'application/json, text/event-stream', { sse: true, json: true }],
    ['both, in any order and case', 'Text/Event-Stream;q=0.9, APPLICATION/JSON', { sse: true, json: true }],
    ['neither', 'text/html', { sse: false, json: true }],
  ])('allows the right modes for %s', (_what, accept, modes) => {
    expect(responseModes(accept)).toEqual(modes);
  });

  it('always allows at least one mode', () => {
    for (const accept of [undefined, '', 'image/png', 'application/json', 'text/event-stream']) {
      const m = responseModes(accept);
      expect(m.sse || m.json).toBe(true);
    }
  });
});
