-- Staff: the operator's people, separate from customer users. They authenticate to the
-- admin API with staff tokens (`tgs_<prefix>_<secret>`), stored like API keys: a public
-- prefix and a SHA-256 of the secret.
CREATE TABLE staff (
  id          text PRIMARY KEY CHECK (id ~ '^stf_[1-9A-HJ-NP-Za-km-z]{8,40}$'),
  email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  created_at  timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);
CREATE UNIQUE INDEX staff_email_key ON staff (lower(email));

CREATE TABLE staff_tokens (
  id           text PRIMARY KEY CHECK (id ~ '^stt_[1-9A-HJ-NP-Za-km-z]{8,40}$'),
  staff_id     text NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[1-9A-HJ-NP-Za-km-z]{12}$'),
  secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz
);
