-- The application connects as tollgate_app, which owns nothing: row-level security
-- cannot be bypassed by accident, and DDL is impossible from the running platform.
-- Migrations run as the owner (DATABASE_OWNER_URL). Production sets the role's password
-- out of band; locally the trust auth of the dev database needs none.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tollgate_app') THEN
    CREATE ROLE tollgate_app LOGIN;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO tollgate_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tollgate_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO tollgate_app;
