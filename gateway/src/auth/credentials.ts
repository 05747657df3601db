import type { IncomingHttpHeaders } from 'node:http';

/**
 * Where a presented API key came from. Headers are the norm; WebSocket clients that
 * cannot set headers may pass the key as a `Sec-WebSocket-Protocol` entry (`bearer.<key>`
 * or the bare key) or as an `access_token` query parameter. None of these are logged.
 */
export type CredentialSource = 'authorization' | 'subprotocol' | 'query';

export interface PresentedCredential {
  readonly key: string;
  readonly source: CredentialSource;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function credentialFromHeaders(headers: IncomingHttpHeaders): PresentedCredential | null {
  const auth = headers.authorization;
  if (typeof auth !== 'string') return null;
  const m = BEARER.exec(auth);
  return m ? { key: m[1]!, source: 'authorization' } : null;
}

/** Subprotocol entries other than `mcp` that carry a key. */
export function credentialFromSubprotocols(header: string | undefined): PresentedCredential | null {
  if (!header) return null;
  for (const entry of header.split(',')) {
    const value = entry.trim();
    if (value.startsWith('bearer.')) return { key: value.slice('bearer.'.length), source: 'subprotocol' };
    if (value.startsWith('tg_')) return { key: value, source: 'subprotocol' };
  }
  return null;
}

export function credentialFromQuery(url: string): PresentedCredential | null {
  const q = url.indexOf('?');
  if (q < 0) return null;
  const token = new URLSearchParams(url.slice(q + 1)).get('access_token');
  return token ? { key: token, source: 'query' } : null;
}

/** The credential of an HTTP request, or of a WebSocket upgrade (which also allows the alternatives). */
export function presentedCredential(req: { headers: IncomingHttpHeaders; url: string }, upgrade: boolean): PresentedCredential | null {
  const fromHeader = credentialFromHeaders(req.headers);
  if (fromHeader || !upgrade) return fromHeader;
  const protocols = req.headers['sec-websocket-protocol'];
  return credentialFromSubprotocols(Array.isArray(protocols) ? protocols.join(',') : protocols) ?? credentialFromQuery(req.url);
}
