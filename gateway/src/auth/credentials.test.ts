import { describe, expect, it } from 'vitest';
import { credentialFromHeaders, credentialFromQuery, credentialFromSubprotocols, presentedCredential } from './credentials.js';

const KEY = 'tg_PREFIXabc123_SECRETsecretSECRETsecret12345678';

describe('credentialFromHeaders', () => {
  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('reads a %s Authorization header', (scheme) => {
    expect(credentialFromHeaders({ authorization: `${scheme} ${KEY}` })).toEqual({ key: KEY, source: 'authorization' });
  });

  it('tolerates extra spaces around the key', () => {
    expect(credentialFromHeaders({ authorization: `Bearer   ${KEY}  ` })).toEqual({ key: KEY, source: 'authorization' });
  });

  it.each([
    ['no header', undefined],
    ['another scheme', `Basic ${KEY}`],
    ['a bare key', KEY],
    ['an empty bearer', 'Bearer '],
    ['two tokens', `Bearer ${KEY} extra`],
    ['no space after the scheme', `Bearer${KEY}`],
  ])('finds nothing with %s', (_what, authorization) => {
    expect(credentialFromHeaders({ authorization })).toBeNull();
  });
});

describe('credentialFromSubprotocols', () => {
  it('reads a bearer.<key> entry', () => {
    expect(credentialFromSubprotocols(`mcp, bearer.${KEY}`)).toEqual({ key: KEY, source: 'subprotocol' });
  });

  it('reads a bare tg_ key entry', () => {
    expect(credentialFromSubprotocols(`mcp,${KEY}`)).toEqual({ key: KEY, source: 'subprotocol' });
  });

  it('finds nothing without a key entry', () => {
    expect(credentialFromSubprotocols('mcp')).toBeNull();
    expect(credentialFromSubprotocols('')).toBeNull();
    expect(credentialFromSubprotocols(undefined)).toBeNull();
  });
});

describe('credentialFromQuery', () => {
  it('reads access_token', () => {
    expect(credentialFromQuery(`/mcp?access_token=${KEY}`)).toEqual({ key: KEY, source: 'query' });
    expect(credentialFromQuery(`/mcp?x=1&access_token=${encodeURIComponent(KEY)}&y=2`)).toEqual({ key: KEY, source: 'query' });
  });

  it('finds nothing without one', () => {
    expect(credentialFromQuery('/mcp')).toBeNull();
    expect(credentialFromQuery('/mcp?token=abc')).toBeNull();
    expect(credentialFromQuery('/mcp?access_token=')).toBeNull();
  });
});

describe('presentedCredential', () => {
  const other = 'tg_OTHERother1234_OTHERotherOTHERotherOTHERother12';

  it('prefers the Authorization header', () => {
    const req = {
      headers: { authorization: `Bearer ${KEY}`, 'sec-websocket-protocol': `mcp, bearer.${other}` },
      url: `/mcp?access_token=${other}`,
    };
    expect(presentedCredential(req, true)).toEqual({ key: KEY, source: 'authorization' });
    expect(presentedCredential(req, false)).toEqual({ key: KEY, source: 'authorization' });
  });

  it('falls back to a subprotocol, then the query, on an upgrade', () => {
    expect(presentedCredential({ headers: { 'sec-websocket-protocol': `mcp, bearer.${KEY}` }, url: `/mcp?access_token=${other}` }, true)).toEqual({
      key: KEY,
      source: 'subprotocol',
    });
    expect(presentedCredential({ headers: { 'sec-websocket-protocol': 'mcp' }, url: `/mcp?access_token=${KEY}` }, true)).toEqual({
      key: KEY,
      source: 'query',
    });
  });

  it('ignores the alternatives on a plain HTTP request', () => {
    expect(presentedCredential({ headers: { 'sec-websocket-protocol': `mcp, bearer.${KEY}` }, url: '/mcp' }, false)).toBeNull();
    expect(presentedCredential({ headers: {}, url: `/mcp?access_token=${KEY}` }, false)).toBeNull();
  });

  it('finds nothing when nothing is presented', () => {
    expect(presentedCredential({ headers: {}, url: '/mcp' }, true)).toBeNull();
  });
});
