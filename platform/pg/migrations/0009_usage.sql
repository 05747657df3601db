-- Usage: one row per admitted call that ended, keyed by the call's id, written exactly once
-- (inserts are idempotent: a redelivered record is a no-op), and daily rollups per
-- organization, user and tool. Both are tenant-owned and isolated like every other table.
CREATE TABLE usage_records (
  call_id      text PRIMARY KEY CHECK (length(call_id) BETWEEN 8 AND 64),
  request_id   text NOT NULL,
  org_id       text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id      text NOT NULL,
  key_id       text NOT NULL,
  tool         text NOT NULL,
  tier         text NOT NULL,
  outcome      text NOT NULL CHECK (outcome IN ('ok', 'tool_error', 'failed', 'cancelled')),
  -- Billable units: 1 for a successful call (quotas count successful calls), 0 otherwise.
  units        integer NOT NULL CHECK (units >= 0),
  overage      boolean NOT NULL DEFAULT false,
  cache_hit    boolean NOT NULL DEFAULT false,
  latency_ms   integer NOT NULL CHECK (latency_ms >= 0),
  transport    text NOT NULL,
  started_at   timestamptz NOT NULL,
  ended_at     timestamptz NOT NULL,
  ingested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_records_org_time_idx ON usage_records (org_id, ended_at);
-- Rollups read "everything ingested since their last run".
CREATE INDEX usage_records_ingested_idx ON usage_records (ingested_at);

CREATE TABLE usage_daily (
  org_id         text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  day            date NOT NULL,
  user_id        text NOT NULL,
  tool           text NOT NULL,
  calls          integer NOT NULL,
  ok_calls       integer NOT NULL,
  error_calls    integer NOT NULL,
  units          bigint NOT NULL,
  overage_units  bigint NOT NULL,
  latency_ms_sum bigint NOT NULL,
  latency_ms_max integer NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, day, user_id, tool)
);

ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_records
  USING (org_id = app_org_id() OR app_is_staff());

ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_daily
  USING (org_id = app_org_id() OR app_is_staff());

-- Usage is history: the application may add records and rollups, never rewrite a record.
REVOKE UPDATE, DELETE ON usage_records FROM tollgate_app;

-- How far a periodic job has processed (usage rollups: up to which ingestion time).
CREATE TABLE job_watermarks (
  name text PRIMARY KEY,
  at   timestamptz NOT NULL
);
