-- Append-only audit log of every change made through the account and admin APIs.
-- The application may insert and read; nobody may update or delete (a trigger refuses it
-- even for the owner, so history cannot be rewritten by a bug or a script).
CREATE TABLE audit_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id      text,
  actor_type  text NOT NULL CHECK (actor_type IN ('staff', 'user', 'system')),
  actor_id    text NOT NULL,
  action      text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
  target_type text NOT NULL,
  target_id   text,
  before      jsonb,
  after       jsonb,
  request_id  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, created_at DESC);

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM tollgate_app;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
