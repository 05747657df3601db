import { ProtocolError, Server } from '@modelcontextprotocol/server';
import { AppError } from '../../../core/errors.js';
import type { ExchangeContext, ExchangeContextLookup } from './exchange-context.js';
import { toWireError } from './to-wire-error.js';
import type { ToolRouter } from './tool-router.js';

export const SERVER_INFO = { name: 'tollgate', title: 'Tollgate', version: '0.1.0' } as const;

const INSTRUCTIONS =
  'Tools are metered per call according to your plan. Refusals carry data.reason and data.retryAfterMs; ' +
  'long-running tools report progress when you send a progressToken.';

/**
 * Builds one low-level MCP server instance whose handlers read the caller from the
 * transport's exchange context. The serving entries create one instance per
 * connection (WebSocket, 2025-era HTTP session) and one shared instance for all
 * stateless 2026-07-28 HTTP traffic, so no request pays for building a server.
 */
export function createMcpServer(router: ToolRouter, contextOf: ExchangeContextLookup): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS });
  const exchange = (id: string | number): ExchangeContext => {
    const ctx = contextOf(id);
    if (!ctx) {
      const w = toWireError(new AppError('INTERNAL', 'request reached the server without an exchange context'), 'unknown');
      throw new ProtocolError(w.code, w.message, w.data);
    }
    return ctx;
  };
  server.setRequestHandler('tools/list', async (_request, ctx) => ({ tools: router.list(exchange(ctx.mcpReq.id).principal) }));
  server.setRequestHandler('tools/call', async (request, ctx) => router.call(request.params, exchange(ctx.mcpReq.id), ctx));
  return server;
}
