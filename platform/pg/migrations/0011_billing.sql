-- Billing: each organization's subscription is owned by a Temporal workflow
-- (`subscription/<orgId>`) that runs its periods, plan changes and Stripe calls; this table
-- mirrors what the gateways and APIs read. Stripe webhook events are recorded once by id.

-- The Stripe price a paid plan is billed at (null: not billed through Stripe, e.g. Free).
ALTER TABLE plans ADD COLUMN stripe_price_id text CHECK (stripe_price_id IS NULL OR stripe_price_id ~ '^[A-Za-z0-9_]{3,255}$');

ALTER TABLE subscriptions
  ADD COLUMN stripe_subscription_item_id text,
  -- past_due: a payment failed; the organization moves to Free when the grace period ends.
  ADD COLUMN grace_until timestamptz,
  -- Set once the organization's subscription workflow has been started (by the sweep or a plan change).
  ADD COLUMN workflow_started_at timestamptz;

CREATE INDEX subscriptions_no_workflow_idx ON subscriptions (org_id) WHERE workflow_started_at IS NULL;
CREATE UNIQUE INDEX subscriptions_stripe_customer_idx ON subscriptions (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;

-- Every Stripe webhook event accepted, once: a redelivered event is recognized by its id.
CREATE TABLE stripe_events (
  id          text PRIMARY KEY CHECK (id ~ '^evt_[A-Za-z0-9_]+$'),
  type        text NOT NULL,
  org_id      text REFERENCES organizations (id) ON DELETE SET NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

-- Events name an organization only through Stripe ids: platform-wide, staff and system only.
ALTER TABLE stripe_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY staff_only ON stripe_events USING (app_is_staff());

-- Each closed billing period once: its overage units and whether they went to Stripe.
-- Written after the meter event is sent, so a period closed twice (a retried activity)
-- finds its row and reports nothing again.
CREATE TABLE billing_periods (
  org_id             text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  period_start       timestamptz NOT NULL,
  period_end         timestamptz NOT NULL,
  overage_units      bigint NOT NULL CHECK (overage_units >= 0),
  -- The meter event's identifier at Stripe (`<org>:<periodStart>`); null: nothing reported (local mode, no overage).
  stripe_identifier  text,
  closed_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, period_start)
);
ALTER TABLE billing_periods ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON billing_periods
  USING (org_id = app_org_id() OR app_is_staff());
-- A closed period is history: never rewritten.
REVOKE UPDATE, DELETE ON billing_periods FROM tollgate_app;
