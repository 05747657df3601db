import { ProtocolError, Server, type ServerContext } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { declaresTasksExtension, isModernRequest, TASKS_EXTENSION, type ToolTasks } from '../tools/tool-tasks.js';
import { AppError } from '../../../core/errors.js';
import type { ExchangeContext, ExchangeContextLookup } from './exchange-context.js';
import { toWireError } from './to-wire-error.js';
import type { ToolRouter } from './tool-router.js';
import { VERSION } from '../../../platform/version.js';

export const SERVER_INFO = { name: 'tollgate', title: 'Tollgate', version: VERSION } as const;

const INSTRUCTIONS =
  'Tools are metered per call according to your plan. Refusals carry data.reason and data.retryAfterMs; ' +
  'long-running tools report progress when you send a progressToken.';

/**
 * Builds one low-level MCP server instance whose handlers read the caller from the
 * transport's exchange context. The serving entries create one instance per
 * connection (WebSocket, 2025-era HTTP session) and one shared instance for all
 * stateless 2026-07-28 HTTP traffic, so no request pays for building a server.
 */
/** -32021: a 2026-07-28 task method from a client that did not declare the tasks extension. */
function missingTasksExtension(): ProtocolError {
  return new ProtocolError(-32021, 'Missing required client capability', { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } });
}

/**
 * The SDK's low-level server, letting a `tools/call` answer with a task handle
 * (`resultType: "task"`, the 2026-07-28 tasks extension). The SDK validates every tools/call
 * result against `CallToolResult`, which would strip the handle; its encoder already allows
 * the `task` result type on tools/call. `_wrapHandler` is the SDK's hook for exactly this.
 */
class TaskCapableServer extends Server {
  protected override _wrapHandler(method: string, handler: Parameters<Server['_wrapHandler']>[1]): ReturnType<Server['_wrapHandler']> {
    if (method !== 'tools/call') return super._wrapHandler(method, handler);
    const handles = new WeakMap<object, Awaited<ReturnType<typeof handler>>>();
    const validated = super._wrapHandler(method, async (request, ctx) => {
      const result = await handler(request, ctx);
      if ((result as { resultType?: unknown }).resultType !== 'task') return result;
      handles.set(request, result);
      return { content: [] };
    });
    return async (request, ctx) => {
      const result = await validated(request, ctx);
      return handles.get(request) ?? result;
    };
  }
}

export function createMcpServer(router: ToolRouter, tasks: ToolTasks, contextOf: ExchangeContextLookup): Server {
  const server = new TaskCapableServer(SERVER_INFO, {
    capabilities: {
      tools: { listChanged: false },
      // MCP 2025-11-25 tasks: workflow tools can run as tasks that outlive the connection.
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
      // 2026-07-28: the tasks extension (SEP-2663).
      extensions: { [TASKS_EXTENSION]: {} },
    },
    instructions: INSTRUCTIONS,
  });
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
  // Task methods are custom methods to this SDK line (no runtime for either tasks
  // vocabulary): params are validated here. A 2026-07-28 request speaks the tasks extension
  // (SEP-2663: result inline in tasks/get, tasks/update, empty acks) and must declare it; an
  // older session speaks the 2025-11-25 shapes.
  const TaskParams = z.looseObject({ taskId: z.string().min(1).max(200) });
  const modern = (_params: unknown, ctx: ServerContext) => {
    if (!isModernRequest(ctx)) return undefined;
    if (!declaresTasksExtension(ctx)) throw missingTasksExtension();
    return exchange(ctx.mcpReq.id);
  };
  server.setRequestHandler('tasks/get', { params: TaskParams }, async (params, ctx) => {
    const ex = modern(params, ctx);
    if (ex) return { ...(await tasks.getDetailed(ex.principal, params.taskId, ex)) };
    return { ...(await tasks.get(exchange(ctx.mcpReq.id).principal, params.taskId)) };
  });
  server.setRequestHandler('tasks/update', { params: TaskParams.extend({ inputResponses: z.record(z.string(), z.unknown()).optional() }) }, async (params, ctx) => {
    const ex = modern(params, ctx) ?? exchange(ctx.mcpReq.id);
    await tasks.update(ex.principal, params.taskId);
    return {};
  });
  server.setRequestHandler('tasks/result', { params: TaskParams }, async (params, ctx) => {
    const ex = exchange(ctx.mcpReq.id);
    return { ...(await tasks.result(ex.principal, params.taskId, ex)) };
  });
  server.setRequestHandler('tasks/cancel', { params: TaskParams }, async (params, ctx) => {
    const ex = modern(params, ctx);
    if (ex) {
      await tasks.cancel(ex.principal, params.taskId, { alreadyEndedIsFine: true });
      return {};
    }
    return { ...(await tasks.cancel(exchange(ctx.mcpReq.id).principal, params.taskId)) };
  });
  server.setRequestHandler('tasks/list', { params: z.looseObject({ cursor: z.string().optional() }) }, async (_params, ctx) => ({ ...(await tasks.list(exchange(ctx.mcpReq.id).principal)) }));
  return server;
}
