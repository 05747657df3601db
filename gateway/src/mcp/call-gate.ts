import { AppError } from '../../../core/errors.js';
import { formatDuration } from '../../../core/duration.js';
import { planAllowsTool } from '../../../core/plans.js';
import type { Principal } from '../../../core/principal.js';
import { findTool } from '../../../core/tools/catalog.js';
import type { Admission, AdmissionDecision } from '../admission/admission.js';
import type { AdmittedCall } from './exchange-context.js';

export type GateOutcome = { readonly ok: true; readonly admitted?: AdmittedCall } | { readonly ok: false; readonly error: AppError };

export interface GateRequest {
  readonly method: string;
  readonly params?: unknown;
}

/**
 * Runs before an MCP request reaches the server instance, so a refusal costs no tool
 * work and HTTP can answer with a real status (403, 429). For tools/call: the tool must
 * be in the caller's plan, then admission charges the call in one Redis round trip.
 * Unknown tool names pass through: the tool router answers them with the protocol's
 * unknown-tool error.
 */
export class CallGate {
  constructor(
    private readonly admission: Admission,
    private readonly upgradeUrl: string,
  ) {}

  async check(request: GateRequest, principal: Principal): Promise<GateOutcome> {
    if (request.method !== 'tools/call') return { ok: true };
    const name = (request.params as { name?: unknown } | undefined)?.name;
    if (typeof name !== 'string') return { ok: true };
    const tool = findTool(name);
    if (!tool) return { ok: true };
    if (!planAllowsTool(principal.plan, tool)) {
      return {
        ok: false,
        error: new AppError('TOOL_NOT_IN_PLAN', `the ${principal.plan.name} plan does not include the tool "${tool.name}"; upgrade at ${this.upgradeUrl}`, {
          tool: tool.name,
          plan: principal.plan.id,
          upgradeUrl: this.upgradeUrl,
        }),
      };
    }
    const decision = await this.admission.admitToolCall(principal, tool);
    if (!decision.ok) return { ok: false, error: this.refusal(decision, principal) };
    return { ok: true, admitted: { tool } };
  }

  private refusal(d: Extract<AdmissionDecision, { ok: false }>, principal: Principal): AppError {
    const plan = principal.plan;
    const details = {
      reason: d.reason,
      limit: d.limit,
      remaining: d.remaining,
      retryAfterMs: d.retryAfterMs,
      plan: plan.id,
      upgradeUrl: this.upgradeUrl,
    };
    if (d.code === 'UPSTREAM_UNAVAILABLE') {
      return new AppError('UPSTREAM_UNAVAILABLE', 'admission is unavailable; retry shortly', details);
    }
    const message = `${plan.name} allows ${d.limit} calls per minute per API key; retry in ${formatDuration(d.retryAfterMs)} or upgrade at ${this.upgradeUrl}`;
    return new AppError(d.code, message, details);
  }
}
