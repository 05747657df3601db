-- Organizations, users, memberships, subscriptions and API keys.
-- Every user has a personal organization, so "a user without an organization" never exists.
CREATE TABLE organizations (
  id          text PRIMARY KEY CHECK (id ~ '^org_[1-9A-HJ-NP-Za-km-z]{8,40}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  personal    boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id              text PRIMARY KEY CHECK (id ~ '^usr_[1-9A-HJ-NP-Za-km-z]{8,40}$'),
  email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  personal_org_id text NOT NULL REFERENCES organizations (id),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
  org_id     text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE subscriptions (
  org_id                 text PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  plan_id                text NOT NULL REFERENCES plans (id),
  status                 text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'past_due', 'canceled')),
  current_period_start   timestamptz NOT NULL DEFAULT now(),
  current_period_end     timestamptz NOT NULL DEFAULT now() + interval '1 month',
  pending_plan_id        text REFERENCES plans (id),
  stripe_customer_id     text,
  stripe_subscription_id text,
  updated_at             timestamptz NOT NULL DEFAULT now()
);

-- An API key is `tg_<prefix>_<secret>`. Only the prefix (public, for lookup and display)
-- and a SHA-256 of the secret are stored; the secret is shown once at creation.
CREATE TABLE api_keys (
  id           text PRIMARY KEY CHECK (id ~ '^key_[1-9A-HJ-NP-Za-km-z]{8,40}$'),
  org_id       text NOT NULL,
  user_id      text NOT NULL,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[1-9A-HJ-NP-Za-km-z]{12}$'),
  secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
  scopes       text[] NOT NULL DEFAULT '{mcp}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  rotated_from text REFERENCES api_keys (id),
  FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at DESC);
CREATE INDEX api_keys_user_idx ON api_keys (org_id, user_id);
