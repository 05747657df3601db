/**
 * Baselines: the MCP SDK v2 on Fastify with the same no-op tool and no admission, in the
 * two patterns its documentation shows — `stateless` (createMcpHandler: a fresh McpServer
 * per request) and `session` (one sessionful Streamable HTTP transport, reused).
 * Prints the port it listens on.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { toNodeHandler, NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

const mode = process.argv[2] as 'stateless' | 'session';

function buildServer(): McpServer {
  const server = new McpServer({ name: 'bare', version: '1.0.0' });
  server.registerTool('noop', { description: 'Does nothing', inputSchema: z.object({ holdMs: z.number().int().min(0).default(0) }) }, async () => ({
    content: [{ type: 'text', text: '{}' }],
  }));
  return server;
}

const app = Fastify();
if (mode === 'stateless') {
  const node = toNodeHandler(createMcpHandler(buildServer));
  app.all('/mcp', (request, reply) => node(request.raw, reply.raw, request.body));
} else {
  const sessions = new Map<string, NodeStreamableHTTPServerTransport>();
  app.all('/mcp', async (request, reply) => {
    const sid = request.headers['mcp-session-id'] as string | undefined;
    let transport = sid ? sessions.get(sid) : undefined;
    if (!transport) {
      const created = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => void sessions.set(id, created) });
      await buildServer().connect(created);
      transport = created;
    }
    reply.hijack();
    await transport.handleRequest(request.raw, reply.raw, request.body);
  });
}
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: (app.server.address() as { port: number }).port })}\n`);
