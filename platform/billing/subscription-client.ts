import { isGrpcServiceError, WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, ActivityFailure } from '@temporalio/common';
import { subscriptionWorkflowId, type PlanChangeRequest, type PlanChangeResult, type StripeEventSignal, type SubscriptionState } from '../../core/billing.js';
import { AppError, ERRORS, type ErrorCode } from '../../core/errors.js';
import type { Actor } from '../../core/principal.js';
import type { Config } from '../config.js';
import {
  SUBSCRIPTION_WORKFLOW,
  cancelPendingChangeUpdate,
  changePlanUpdate,
  stripeEventSignal,
  subscriptionQuery,
  type SubscriptionInput,
} from '../../core/temporal/billing-contract.js';

export interface SubscriptionClientOptions {
  readonly taskQueue: string;
  readonly activityTimeoutMs: number;
}

/** A plan change's outcome, or (when it takes longer than the caller waits) its id to follow. */
export type ChangeOutcome = { readonly status: 'completed'; readonly changeId: string; readonly result: PlanChangeResult } | { readonly status: 'pending'; readonly changeId: string };

/**
 * Talks to organizations' subscription workflows: plan changes as Updates (with start, so
 * an organization whose workflow has not run yet gets one), Stripe events as Signals,
 * state as a Query. Used by the gateway's admin API and webhook, and by the billing sweep.
 */
export class SubscriptionClient {
  constructor(
    private readonly client: Client,
    private readonly opts: SubscriptionClientOptions,
  ) {}

  /** Starts the organization's workflow unless it runs already. */
  async ensureStarted(orgId: string): Promise<void> {
    await this.client.workflow.start(SUBSCRIPTION_WORKFLOW, { ...this.startOptions(orgId), workflowIdConflictPolicy: 'USE_EXISTING' });
  }

  /**
   * Asks for a plan change and waits up to `waitMs` for its outcome. A refused change (the
   * workflow's validator, an unknown plan, Stripe declining) throws an AppError.
   */
  async changePlan(orgId: string, changeId: string, request: PlanChangeRequest, waitMs: number): Promise<ChangeOutcome> {
    const outcome = this.client.workflow.executeUpdateWithStart(changePlanUpdate, {
      updateId: changeId,
      args: [request],
      startWorkflowOperation: this.withStart(orgId),
    });
    return this.within(changeId, outcome, waitMs);
  }

  async cancelPendingChange(orgId: string, changeId: string, input: { actor: Actor; requestId?: string }, waitMs: number): Promise<ChangeOutcome> {
    const outcome = this.client.workflow.executeUpdateWithStart(cancelPendingChangeUpdate, {
      updateId: changeId,
      args: [input],
      startWorkflowOperation: this.withStart(orgId),
    });
    return this.within(changeId, outcome, waitMs);
  }

  /** A change asked for earlier: its outcome, or still pending after `waitMs`. */
  async followChange(orgId: string, changeId: string, waitMs: number): Promise<ChangeOutcome> {
    const handle = this.client.workflow.getHandle(subscriptionWorkflowId(orgId)).getUpdateHandle<PlanChangeResult>(changeId);
    return this.within(changeId, handle.result(), waitMs);
  }

  /** Delivers a verified Stripe event (the workflow ignores ids it has handled). */
  async signalStripeEvent(orgId: string, event: StripeEventSignal): Promise<void> {
    await this.client.workflow.signalWithStart(SUBSCRIPTION_WORKFLOW, {
      ...this.startOptions(orgId),
      signal: stripeEventSignal,
      signalArgs: [event],
    });
  }

  /** The workflow's own view (pending reports, handled events), or null when it has none. */
  async state(orgId: string): Promise<SubscriptionState | null> {
    try {
      return await this.client.workflow.getHandle(subscriptionWorkflowId(orgId)).query(subscriptionQuery);
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return null;
      throw e;
    }
  }

  private startOptions(orgId: string) {
    const input: SubscriptionInput = { orgId, activityTimeoutMs: this.opts.activityTimeoutMs };
    return { workflowId: subscriptionWorkflowId(orgId), taskQueue: this.opts.taskQueue, args: [input] as [SubscriptionInput] };
  }

  private withStart(orgId: string) {
    return new WithStartWorkflowOperation(SUBSCRIPTION_WORKFLOW, { ...this.startOptions(orgId), workflowIdConflictPolicy: 'USE_EXISTING' });
  }

  private async within(changeId: string, outcome: Promise<PlanChangeResult>, waitMs: number): Promise<ChangeOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), waitMs);
    });
    // The change goes on when the caller stops waiting: its outcome is followed by id.
    outcome.catch(() => {});
    try {
      const first = await Promise.race([outcome, late]);
      return first === 'late' ? { status: 'pending', changeId } : { status: 'completed', changeId, result: first };
    } catch (e) {
      throw toAppError(e);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The subscription workflows as this deployment runs them (task queue, activity timeout). */
export function subscriptionClient(client: Client, config: Config): SubscriptionClient {
  return new SubscriptionClient(client, { taskQueue: config.temporal.taskQueues.billing, activityTimeoutMs: config.billing.activityTimeoutMs });
}

/** A refused Update as the API reports it: the workflow's own reason and code. */
function toAppError(e: unknown): unknown {
  if (e instanceof WorkflowUpdateFailedError) {
    const cause = e.cause instanceof ActivityFailure ? e.cause.cause : e.cause;
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    const code: ErrorCode = type && type in ERRORS && ERRORS[type as ErrorCode].expose ? (type as ErrorCode) : 'CONFLICT';
    return new AppError(code, cause?.message ?? e.message, {}, { cause: e });
  }
  if (isUpdateNotFound(e)) return new AppError('NOT_FOUND', 'no such plan change (changes are followed until the billing period they were made in ends)');
  return e;
}

/** The workflow or the update id is unknown to Temporal (gRPC NOT_FOUND). */
function isUpdateNotFound(e: unknown): boolean {
  if (e instanceof WorkflowNotFoundError) return true;
  const grpc = e instanceof Error && isGrpcServiceError(e.cause) ? e.cause : isGrpcServiceError(e) ? e : undefined;
  return (grpc?.code as number | undefined) === GRPC_NOT_FOUND;
}

/** gRPC's NOT_FOUND status (not importing grpc-js, which is the Temporal client's own dependency). */
const GRPC_NOT_FOUND = 5;
