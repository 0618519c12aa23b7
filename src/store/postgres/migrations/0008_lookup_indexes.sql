-- A user or its credentials are found by their primary key, whatever the planner knows (as
-- migration 7 did for refresh tokens). A statement planned while the tables had no statistics
-- (a new database) could probe `users_newest (env, org, …)` by its leading columns and filter
-- every user of the organization. Leading with `org`, which those lookups compare with
-- `IS NOT DISTINCT FROM` (not an index operator), leaves the primary key the only index that
-- fits them; the pages and the unique keys keep every column they had.
--
-- The builds lock writes to these tables for their duration (inside the migration's
-- transaction, so not CONCURRENTLY): a few seconds per million users.
DROP INDEX {schema}.users_newest;
CREATE INDEX users_newest ON {schema}.users (org, env, inserted_at DESC, id DESC);
ALTER TABLE {schema}.users DROP CONSTRAINT users_email_key;
ALTER TABLE {schema}.users ADD CONSTRAINT users_email_key UNIQUE (org, env, email_key);
ALTER TABLE {schema}.credentials DROP CONSTRAINT credentials_username_key;
ALTER TABLE {schema}.credentials
    ADD CONSTRAINT credentials_username_key UNIQUE (org, env, username);
