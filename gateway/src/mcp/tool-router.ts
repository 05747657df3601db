import { ProtocolError, ProtocolErrorCode, type CallToolResult, type ServerContext, type Tool } from '@modelcontextprotocol/server';
import { AppError, isAppError, publicMessage } from '../../../core/errors.js';
import { planAllowsTool } from '../../../core/plans.js';
import type { Principal } from '../../../core/principal.js';
import { findTool, TOOL_CATALOG } from '../../../core/tools/catalog.js';
import type { ToolDefinition } from '../../../core/tools/define.js';
import { INLINE_TOOLS } from '../tools/inline-tools.js';
import { toolDescriptor } from '../tools/tool-descriptor.js';
import type { WorkflowToolRunner } from '../tools/workflow-tool-runner.js';
import type { Admission, OverQuota } from '../admission/admission.js';
import type { ExchangeContext } from './exchange-context.js';
import { toWireError } from './to-wire-error.js';

/**
 * Lists the tools of the caller's plan and dispatches calls to inline implementations
 * or to Temporal. Calls reach it only through the CallGate, which already checked the
 * plan and charged admission; it validates arguments and turns failures into sanitized
 * `isError` results.
 */
export class ToolRouter {
  constructor(
    private readonly workflows: WorkflowToolRunner,
    private readonly admission: Admission,
  ) {}

  list(principal: Principal): Tool[] {
    return TOOL_CATALOG.filter((t) => planAllowsTool(principal.plan, t)).map(toolDescriptor);
  }

  async call(params: { name: string; arguments?: Record<string, unknown> }, exchange: ExchangeContext, ctx: ServerContext): Promise<CallToolResult> {
    const tool = findTool(params.name);
    if (!tool) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${params.name}`);
    const permit = exchange.admitted?.permit;
    if (exchange.admitted?.tool !== tool || !permit) {
      // Every transport gates tools/call; reaching here ungated is a bug, not a caller error.
      throw wireError(new AppError('INTERNAL', `tools/call of ${tool.name} reached the router without admission`), exchange);
    }
    // The call holds its concurrency leases until it ends; a call outliving a third of the
    // lease TTL renews them (a crashed gateway's leases then expire within one TTL).
    let failed = true;
    const renewal = setInterval(() => void this.admission.renew(permit), this.admission.leaseTtlMs / 3);
    try {
      const result = await this.run(tool, params.arguments, exchange, ctx);
      failed = result.isError === true;
      return withQuotaNotice(result, permit.overQuota);
    } finally {
      clearInterval(renewal);
      void this.admission.release(permit, { failed });
    }
  }

  private async run(tool: ToolDefinition, args: unknown, exchange: ExchangeContext, ctx: ServerContext): Promise<CallToolResult> {
    const parsed = tool.input.safeParse(args ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ');
      return { isError: true, content: [{ type: 'text', text: `Invalid arguments for tool ${tool.name}: ${issues}` }] };
    }
    try {
      if (tool.mode === 'workflow') return await this.workflows.run(tool, parsed.data, exchange, ctx);
      return await this.runInline(tool, parsed.data, exchange, ctx);
    } catch (err) {
      if (isAppError(err) && err.code === 'CANCELLED') throw wireError(err, exchange);
      if (!isAppError(err)) exchange.log.error({ err, tool: tool.name }, 'tool failed');
      return { isError: true, content: [{ type: 'text', text: `The tool "${tool.name}" failed: ${publicMessage(err)}` }] };
    }
  }

  private async runInline(tool: ToolDefinition, args: unknown, exchange: ExchangeContext, ctx: ServerContext): Promise<CallToolResult> {
    const impl = INLINE_TOOLS[tool.name];
    if (!impl) throw new AppError('INTERNAL', `inline tool ${tool.name} has no implementation`);
    const output = await impl(args as never, { principal: exchange.principal, signal: ctx.mcpReq.signal, log: exchange.log });
    const structured = output && typeof output === 'object' && !Array.isArray(output) ? (output as Record<string, unknown>) : undefined;
    return {
      content: [{ type: 'text', text: typeof output === 'string' ? output : JSON.stringify(output) }],
      ...(structured && tool.output ? { structuredContent: structured } : {}),
    };
  }
}

/**
 * A call admitted past a quota (soft or overage policy) says so in the result's `_meta`,
 * so clients and agents can warn their users before the bill or the hard stop.
 */
function withQuotaNotice(result: CallToolResult, over: readonly OverQuota[]): CallToolResult {
  if (over.length === 0) return result;
  const notices = over.map((o) => ({
    reason: o.reason,
    policy: o.policy,
    limit: o.limit,
    message:
      o.policy === 'overage'
        ? `past the ${o.reason === 'quota_daily' ? 'daily' : 'monthly'} quota of ${o.limit}: this call is billed as overage`
        : `past the ${o.reason === 'quota_daily' ? 'daily' : 'monthly'} quota of ${o.limit}: calls are still allowed, but consider upgrading`,
  }));
  return { ...result, _meta: { ...result._meta, 'io.tollgate/quota': notices } };
}

function wireError(err: AppError, exchange: ExchangeContext): ProtocolError {
  const w = toWireError(err, exchange.requestId);
  return new ProtocolError(w.code, w.message, w.data);
}
