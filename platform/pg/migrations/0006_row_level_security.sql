-- Tenant isolation in the database. Every statement of the application runs in a
-- transaction that names its tenant with `set_config('app.org_id', <org>, true)`; rows of
-- other organizations are invisible and cannot be written. Staff operations that span
-- organizations set `app.staff = 'on'` instead (only the admin API does, after staff
-- authentication). Without either setting nothing is visible: the default is closed.
-- The application role owns no table, so these policies always apply to it.

CREATE FUNCTION app_org_id() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.org_id', true), '') $$;
CREATE FUNCTION app_is_staff() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT coalesce(current_setting('app.staff', true), '') = 'on' $$;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations
  USING (id = app_org_id() OR app_is_staff());

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
  USING (org_id = app_org_id() OR app_is_staff());

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subscriptions
  USING (org_id = app_org_id() OR app_is_staff());

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
  USING (org_id = app_org_id() OR app_is_staff());

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
  USING (org_id = app_org_id() OR app_is_staff());

-- A user is visible to the organizations it belongs to.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY member_visibility ON users
  USING (app_is_staff() OR id IN (SELECT m.user_id FROM memberships m WHERE m.org_id = app_org_id()));

-- Plans are readable by everyone; only staff change them.
ALTER TABLE plans ENABLE ROW LEVEL SECURITY;
CREATE POLICY plans_read ON plans FOR SELECT USING (true);
CREATE POLICY plans_staff_insert ON plans FOR INSERT WITH CHECK (app_is_staff());
CREATE POLICY plans_staff_update ON plans FOR UPDATE USING (app_is_staff()) WITH CHECK (app_is_staff());
CREATE POLICY plans_staff_delete ON plans FOR DELETE USING (app_is_staff());

ALTER TABLE staff ENABLE ROW LEVEL SECURITY;
CREATE POLICY staff_only ON staff USING (app_is_staff());
ALTER TABLE staff_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY staff_only ON staff_tokens USING (app_is_staff());
