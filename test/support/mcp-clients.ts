import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import WebSocket from 'ws';

// Node 20 has no global WebSocket; the SDK v1 WebSocket transport expects one.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

/** The MCP SDK v2 client over Streamable HTTP: `modern` probes server/discover, `legacy` initializes. */
export async function httpClient(mcpUrl: string, key: string, era: 'modern' | 'legacy'): Promise<Client> {
  const client = new Client(
    { name: 'tollgate-test', version: '1.0.0' },
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  return client;
}

/**
 * A third-party WebSocket MCP client: the SDK v1 `WebSocketClientTransport` (subprotocol
 * `mcp`) over the `ws` package. It cannot set headers, so the key travels as the
 * `access_token` query parameter, as such clients do.
 */
export async function wsClient(wsUrl: string, key: string): Promise<V1Client> {
  const url = new URL(wsUrl);
  url.searchParams.set('access_token', key);
  const client = new V1Client({ name: 'tollgate-ws-test', version: '1.0.0' });
  await client.connect(new WebSocketClientTransport(url));
  return client;
}

/** Headers of a raw 2026-07-28 request, for tests that speak the wire protocol directly. */
export function modernHeaders(key: string, method: string, name?: string): Record<string, string> {
  return {
    authorization: `Bearer ${key}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...(name ? { 'mcp-name': name } : {}),
  };
}

export const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'raw-test', version: '1.0.0' },
};
