import { AppError } from '../../../core/errors.js';
import { idempotentCallId } from '../tools/idempotency.js';
import { formatDuration } from '../../../core/duration.js';
import { planAllowsTool } from '../../../core/plans.js';
import type { Principal } from '../../../core/principal.js';
import { findTool } from '../../../core/tools/catalog.js';
import type { Admission, Refusal } from '../admission/admission.js';
import type { Metrics } from '../observability/metrics.js';
import type { TopOrgs } from '../observability/top-orgs.js';
import type { AdmittedCall } from './exchange-context.js';

export type GateOutcome = { readonly ok: true; readonly admitted?: AdmittedCall } | { readonly ok: false; readonly error: AppError };

export interface GateRequest {
  readonly method: string;
  readonly params?: unknown;
}

const SCOPE_WORDS: Record<Refusal['scope'], string> = {
  key: 'per API key',
  user: 'per user',
  organization: 'per organization',
  ip: 'from one IP address',
  tier: 'for the whole tier',
};

/**
 * Runs before an MCP request reaches the server instance, so a refusal costs no tool work
 * and HTTP can answer with a real status (403, 429). tools/call: the tool must be in the
 * caller's plan, then admission decides every level in one Redis round trip; other methods
 * pass a cheap per-key limit. Unknown tool names pass through: the tool router answers
 * them with the protocol's unknown-tool error.
 */
export class CallGate {
  constructor(
    private readonly admission: Admission,
    private readonly upgradeUrl: string,
    private readonly observe: { readonly metrics?: Metrics; readonly topOrgs?: TopOrgs } = {},
  ) {}

  async check(request: GateRequest, principal: Principal, ip: string): Promise<GateOutcome> {
    if (request.method !== 'tools/call') {
      const decision = await this.admission.admit({ principal, ip });
      return decision.ok ? { ok: true, admitted: { permit: decision.permit } } : { ok: false, error: this.refusal(decision.refusal, principal, 'calls') };
    }
    const name = (request.params as { name?: unknown } | undefined)?.name;
    const tool = typeof name === 'string' ? findTool(name) : undefined;
    if (!tool) return { ok: true };
    this.observe.topOrgs?.note(principal.orgId);
    if (!planAllowsTool(principal.plan, tool)) {
      this.refusedCall(principal, tool.name);
      return {
        ok: false,
        error: new AppError('TOOL_NOT_IN_PLAN', `the ${principal.plan.name} plan does not include the tool "${tool.name}"; upgrade at ${this.upgradeUrl}`, {
          tool: tool.name,
          plan: principal.plan.id,
          upgradeUrl: this.upgradeUrl,
        }),
      };
    }
    let callId: string | undefined;
    try {
      callId = tool.mode === 'workflow' ? idempotentCallId(principal.orgId, request.params) : undefined;
    } catch (err) {
      return { ok: false, error: err as AppError };
    }
    const decision = await this.admission.admit({ principal, ip, tool, ...(callId ? { callId } : {}) });
    if (!decision.ok) {
      this.refusedCall(principal, tool.name);
      return { ok: false, error: this.refusal(decision.refusal, principal, tool.group === 'expensive' ? 'calls of expensive tools' : 'calls') };
    }
    return { ok: true, admitted: { tool, permit: decision.permit } };
  }

  private refusedCall(principal: Principal, tool: string): void {
    this.observe.metrics?.mcpCalls.inc({ tier: principal.plan.id, tool, outcome: 'refused' });
  }

  /** A refusal a person or an agent can act on: what the limit is, when to retry, where to upgrade. */
  private refusal(r: Refusal, principal: Principal, what: string): AppError {
    const plan = principal.plan;
    const details = { reason: r.reason, limit: r.limit, remaining: r.remaining, retryAfterMs: r.retryAfterMs, plan: plan.id, upgradeUrl: this.upgradeUrl };
    const upgrade = `upgrade at ${this.upgradeUrl}`;
    const scope = SCOPE_WORDS[r.scope];
    const retry = formatDuration(r.retryAfterMs);
    switch (r.reason) {
      case 'rate':
      case 'ip':
        return new AppError(r.code, `${plan.name} allows ${r.limit} ${what} per minute ${scope}; retry in ${retry} or ${upgrade}`, details);
      case 'burst':
        return new AppError(r.code, `${plan.name} allows bursts of ${r.limit} ${what} ${scope}; retry in ${retry} or ${upgrade}`, details);
      case 'concurrency':
        return new AppError(r.code, `${plan.name} allows ${r.limit} concurrent ${what} ${scope}; retry when one finishes (in about ${retry}) or ${upgrade}`, details);
      case 'quota_daily':
      case 'quota_monthly': {
        const period = r.reason === 'quota_daily' ? 'day' : 'month';
        return new AppError(r.code, `${plan.name} allows ${r.limit} ${what} per ${period} ${scope} and they are used up; the quota resets in ${retry}; ${upgrade}`, details);
      }
      case 'global':
        return r.code === 'SERVICE_UNAVAILABLE'
          ? new AppError(r.code, `admission for the ${plan.name} plan is unavailable right now; retry in ${retry} or ${upgrade}`, details)
          : new AppError(r.code, `the ${plan.name} tier is at capacity right now; retry in ${retry} or ${upgrade}`, details);
    }
  }
}
