-- The few lookups that must happen before a tenant is known run as narrow functions with
-- the owner's rights: each does one fixed query and returns only what its caller needs.

-- Authentication of an API key by its public prefix.
CREATE FUNCTION auth_api_key(p_prefix text)
RETURNS TABLE (key_id text, org_id text, user_id text, prefix text, secret_hash bytea, scopes text[],
               expires_at timestamptz, revoked_at timestamptz, role text, plan_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT k.id, k.org_id, k.user_id, k.prefix, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, m.role, s.plan_id
    FROM api_keys k
    JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.user_id
    JOIN subscriptions s ON s.org_id = k.org_id
   WHERE k.prefix = p_prefix
$$;

-- Authentication of a staff token by its public prefix.
CREATE FUNCTION auth_staff_token(p_prefix text)
RETURNS TABLE (token_id text, staff_id text, email text, secret_hash bytea, expires_at timestamptz,
               revoked_at timestamptz, disabled_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT t.id, s.id, s.email, t.secret_hash, t.expires_at, t.revoked_at, s.disabled_at
    FROM staff_tokens t JOIN staff s ON s.id = t.staff_id
   WHERE t.prefix = p_prefix
$$;

-- Last-used timestamps, written in batches off the hot path.
CREATE FUNCTION touch_api_keys(p_ids text[], p_at timestamptz)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  UPDATE api_keys SET last_used_at = greatest(coalesce(last_used_at, p_at), p_at) WHERE id = ANY (p_ids)
$$;
CREATE FUNCTION touch_staff_tokens(p_ids text[], p_at timestamptz)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  UPDATE staff_tokens SET last_used_at = greatest(coalesce(last_used_at, p_at), p_at) WHERE id = ANY (p_ids)
$$;

-- The user with this email, created (with a personal organization on the Free plan) when
-- there is none. Adding a member by email must not reveal whether the email has an account.
CREATE FUNCTION ensure_user(p_new_user_id text, p_new_org_id text, p_email text, p_name text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_id text;
BEGIN
  SELECT id INTO v_id FROM users WHERE lower(email) = lower(p_email);
  IF v_id IS NOT NULL THEN
    RETURN v_id;
  END IF;
  INSERT INTO organizations (id, name, personal) VALUES (p_new_org_id, p_name || ' (personal)', true);
  INSERT INTO users (id, email, name, personal_org_id) VALUES (p_new_user_id, p_email, p_name, p_new_org_id);
  INSERT INTO memberships (org_id, user_id, role) VALUES (p_new_org_id, p_new_user_id, 'owner');
  INSERT INTO subscriptions (org_id, plan_id) VALUES (p_new_org_id, 'free');
  RETURN p_new_user_id;
END
$$;

REVOKE ALL ON FUNCTION auth_api_key(text), auth_staff_token(text), touch_api_keys(text[], timestamptz),
  touch_staff_tokens(text[], timestamptz), ensure_user(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_api_key(text), auth_staff_token(text), touch_api_keys(text[], timestamptz),
  touch_staff_tokens(text[], timestamptz), ensure_user(text, text, text, text) TO tollgate_app;
