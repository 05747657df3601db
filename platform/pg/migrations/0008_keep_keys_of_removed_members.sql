-- Removing a member used to delete their keys (the key → membership foreign key cascaded).
-- Keys now stay, revoked, as history: the audit log can name them and lists can show them.
-- A key authenticates only while its holder is a member (auth_api_key joins memberships).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_org_id_user_id_fkey;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
