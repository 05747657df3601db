import type { FastifyInstance } from 'fastify';
import type { StripeEventSignal } from '../../../core/billing.js';
import { AppError } from '../../../core/errors.js';
import type { SubscriptionClient } from '../../../platform/billing/subscription-client.js';
import { orgOfStripeCustomer, recordStripeEvent, stripeEventSeen } from '../../../platform/billing/subscriptions-repo.js';
import type { Pool } from '../../../platform/pg/pool.js';
import { verifyWebhook } from '../../../platform/stripe/stripe-billing.js';
import { withSystem } from '../../../platform/tenancy/db-context.js';

export interface StripeWebhookDeps {
  readonly pool: Pool;
  readonly subscriptions: SubscriptionClient;
  /** STRIPE_WEBHOOK_SECRET; without it the endpoint answers 404. */
  readonly webhookSecret: string | undefined;
}

/** Events the subscription workflow acts on; others are acknowledged and dropped. */
const HANDLED = new Set(['invoice.payment_failed', 'invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.updated', 'customer.subscription.deleted']);

interface StripeObject {
  readonly object?: string;
  readonly id?: string;
  readonly status?: string;
  readonly customer?: string | { readonly id: string } | null;
  readonly metadata?: Record<string, string> | null;
}

/**
 * `POST /stripe/webhook` on the public port. The body is verified against its
 * `Stripe-Signature` (raw bytes, so this route parses nothing itself), each event is handled
 * once by id (recorded in `stripe_events`; the workflow also remembers the ids it handled,
 * so two deliveries racing each other still act once), and the event reaches the
 * organization's subscription workflow as a Signal. A non-2xx answer makes Stripe deliver
 * again, so any failure before the Signal is sent is answered as an error.
 */
export async function stripeWebhookRoutes(app: FastifyInstance, deps: StripeWebhookDeps): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body));

  app.post('/stripe/webhook', { schema: { hide: true } }, async (request, reply) => {
    if (!deps.webhookSecret) throw new AppError('NOT_FOUND', 'Stripe webhooks are not enabled here (set STRIPE_WEBHOOK_SECRET)');
    const signature = request.headers['stripe-signature'];
    if (typeof signature !== 'string' || signature === '') throw new AppError('INVALID_INPUT', 'the Stripe-Signature header is missing');
    if (!Buffer.isBuffer(request.body)) throw new AppError('INVALID_INPUT', 'the body is empty');
    let event;
    try {
      event = verifyWebhook(request.body, signature, deps.webhookSecret);
    } catch {
      throw new AppError('INVALID_INPUT', 'the Stripe-Signature does not match the body (or is too old)');
    }
    const log = request.log.child({ stripeEventId: event.id, stripeEventType: event.type });
    if (await withSystem(deps.pool, (db) => stripeEventSeen(db, event.id))) {
      log.info('stripe event already handled');
      return reply.send({ received: true, duplicate: true });
    }
    const object = event.data.object as StripeObject;
    const orgId = await organizationOf(deps.pool, object);
    if (!orgId || !HANDLED.has(event.type)) {
      await withSystem(deps.pool, (db) => recordStripeEvent(db, { id: event.id, type: event.type, orgId }));
      log.info({ orgId }, orgId ? 'stripe event type not handled' : 'stripe event for no known organization');
      return reply.send({ received: true, ignored: true });
    }
    const signal: StripeEventSignal = {
      id: event.id,
      type: event.type,
      ...(object.object === 'subscription' && object.id ? { subscriptionId: object.id } : {}),
      ...(object.object === 'subscription' && object.status ? { subscriptionStatus: object.status } : {}),
    };
    await deps.subscriptions.signalStripeEvent(orgId, signal);
    await withSystem(deps.pool, (db) => recordStripeEvent(db, { id: event.id, type: event.type, orgId }));
    log.info({ orgId }, 'stripe event delivered to the subscription workflow');
    return reply.send({ received: true });
  });
}

/** The organization an event concerns: by its Stripe customer, which Tollgate created and recorded. */
async function organizationOf(pool: Pool, object: StripeObject): Promise<string | null> {
  const customer = typeof object.customer === 'string' ? object.customer : object.customer?.id;
  if (object.object === 'customer' && object.id) return withSystem(pool, (db) => orgOfStripeCustomer(db, object.id!));
  if (!customer) return null;
  return withSystem(pool, (db) => orgOfStripeCustomer(db, customer));
}
