-- Authentication also returns the organization's current billing period: monthly quotas
-- count over it, so a new period (opened by the subscription workflow) starts from zero.
DROP FUNCTION auth_api_key(text);
CREATE FUNCTION auth_api_key(p_prefix text)
RETURNS TABLE (key_id text, org_id text, user_id text, prefix text, secret_hash bytea, scopes text[],
               expires_at timestamptz, revoked_at timestamptz, role text, plan_id text,
               period_start timestamptz, period_end timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT k.id, k.org_id, k.user_id, k.prefix, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, m.role, s.plan_id,
         s.current_period_start, s.current_period_end
    FROM api_keys k
    JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.user_id
    JOIN subscriptions s ON s.org_id = k.org_id
   WHERE k.prefix = p_prefix
$$;

REVOKE ALL ON FUNCTION auth_api_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_api_key(text) TO tollgate_app;
