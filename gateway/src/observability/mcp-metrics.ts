import type { Metrics } from './metrics.js';

/** MCP methods that get a label of their own; anything else is `other` (labels stay bounded). */
const KNOWN_METHODS = new Set([
  'initialize',
  'ping',
  'server/discover',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/result',
  'tasks/cancel',
  'tasks/list',
  'tasks/update',
]);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

/** Why a connection attempt (a WebSocket upgrade, an HTTP request to /mcp) was refused, as a bounded label. */
export function handshakeReason(code: string, status: number): string {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'unauthenticated';
    case 'FORBIDDEN':
    case 'TOOL_NOT_IN_PLAN':
      return 'forbidden';
    case 'RATE_LIMITED':
    case 'QUOTA_EXCEEDED':
      return 'rate_limited';
    default:
      return status >= 500 ? 'overloaded' : 'bad_request';
  }
}

/** Counts one MCP request when its answer goes out. */
export function countMcpRequest(metrics: Metrics, transport: 'http' | 'ws', method: string, tier: string, ok: boolean): void {
  metrics.mcpRequests.inc({ transport, method: methodLabel(method), tier, outcome: ok ? 'ok' : 'error' });
}
