import Stripe from 'stripe';
import type { StripeRefs } from '../../core/billing.js';

export interface StripeSettings {
  readonly secretKey?: string | undefined;
  /** Another API base (stripe-mock in tests): `http://127.0.0.1:12111`. */
  readonly apiBase?: string | undefined;
  /** The Billing meter overage is reported to. */
  readonly meterEventName: string;
}

/**
 * Every call Tollgate makes to Stripe, in its own terms. Each call that creates or changes
 * something carries an idempotency key derived from what it does (organization, change id,
 * period), never a random one: a retried activity, a restarted worker or a replayed
 * workflow sends the same key, and Stripe performs the change once.
 */
export class StripeBilling {
  private readonly stripe: Stripe;

  constructor(private readonly settings: StripeSettings & { readonly secretKey: string }) {
    this.stripe = new Stripe(settings.secretKey, {
      // The SDK retries network errors and 409/5xx itself, reusing the idempotency key.
      maxNetworkRetries: 3,
      timeout: 20_000,
      appInfo: { name: 'tollgate' },
      ...apiBase(settings.apiBase),
    });
  }

  /** The organization's Stripe customer: the one on record, or a new one named after it. */
  async ensureCustomer(input: { orgId: string; orgName: string; customerId: string | null }): Promise<string> {
    if (input.customerId) return input.customerId;
    const customer = await this.stripe.customers.create(
      { name: input.orgName, metadata: { tollgate_org_id: input.orgId } },
      { idempotencyKey: `tollgate:${input.orgId}:customer` },
    );
    return customer.id;
  }

  /** A new subscription to `priceId` (moving from Free to a paid plan). */
  async subscribe(input: { orgId: string; customerId: string; priceId: string; changeId: string }): Promise<StripeRefs> {
    const sub = await this.stripe.subscriptions.create(
      {
        customer: input.customerId,
        items: [{ price: input.priceId }],
        // The plan applies now; an unpaid first invoice surfaces as invoice.payment_failed (grace period).
        payment_behavior: 'allow_incomplete',
        metadata: { tollgate_org_id: input.orgId },
      },
      { idempotencyKey: `tollgate:${input.orgId}:${input.changeId}:subscribe` },
    );
    return { customerId: input.customerId, subscriptionId: sub.id, itemId: sub.items.data[0]?.id ?? null };
  }

  /**
   * Moves the subscription's plan item to `priceId`. `prorate`: an upgrade mid-period bills
   * the difference for the rest of the period now; a change at the period's end does not.
   */
  async changePrice(input: { orgId: string; refs: StripeRefs & { subscriptionId: string }; priceId: string; prorate: boolean; changeId: string }): Promise<StripeRefs> {
    const sub = await this.stripe.subscriptions.update(
      input.refs.subscriptionId,
      {
        items: [input.refs.itemId ? { id: input.refs.itemId, price: input.priceId } : { price: input.priceId }],
        proration_behavior: input.prorate ? 'create_prorations' : 'none',
        metadata: { tollgate_org_id: input.orgId },
      },
      { idempotencyKey: `tollgate:${input.orgId}:${input.changeId}:change-price` },
    );
    const item = sub.items.data.find((i) => i.price.id === input.priceId) ?? sub.items.data[0];
    return { ...input.refs, itemId: item?.id ?? input.refs.itemId };
  }

  /** Ends the subscription now (moving to Free); metered usage so far is invoiced. */
  async cancel(input: { orgId: string; subscriptionId: string; prorate: boolean; changeId: string }): Promise<void> {
    await this.stripe.subscriptions.cancel(
      input.subscriptionId,
      { prorate: input.prorate, invoice_now: true },
      { idempotencyKey: `tollgate:${input.orgId}:${input.changeId}:cancel` },
    );
  }

  /**
   * Reports a closed period's overage units as one Billing meter event. The event's
   * `identifier` and the idempotency key both name the organization and period, so Stripe
   * counts it once however often it is sent.
   */
  async reportOverage(input: { orgId: string; customerId: string; periodStart: string; periodEnd: string; units: number }): Promise<string> {
    const identifier = `${input.orgId}:${input.periodStart}`;
    await this.stripe.billing.meterEvents.create(
      {
        event_name: this.settings.meterEventName,
        identifier,
        // Inside the period it belongs to (Stripe accepts events up to 35 days old).
        timestamp: Math.floor((Date.parse(input.periodEnd) - 1000) / 1000),
        payload: { stripe_customer_id: input.customerId, value: String(input.units) },
      },
      { idempotencyKey: `tollgate:${input.orgId}:overage:${input.periodStart}` },
    );
    return identifier;
  }
}

/** A Stripe client when billing runs with Stripe (STRIPE_SECRET_KEY set), else null: local mode. */
export function createStripeBilling(settings: StripeSettings): StripeBilling | null {
  return settings.secretKey ? new StripeBilling({ ...settings, secretKey: settings.secretKey }) : null;
}

/**
 * Verifies a webhook delivery's `Stripe-Signature` over the raw body and returns the event.
 * Throws when the signature or the timestamp (5 minutes' tolerance) is wrong.
 */
export function verifyWebhook(rawBody: Buffer, signature: string, webhookSecret: string): Stripe.Event {
  return Stripe.webhooks.constructEvent(rawBody, signature, webhookSecret);
}

function apiBase(base: string | undefined): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (!base) return {};
  const url = new URL(base);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port || (protocol === 'http' ? 80 : 443), protocol };
}
